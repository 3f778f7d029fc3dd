package pluginhost

import (
	"os"
	"strings"
)

// passEnv is what a plugin gets from the host's environment: where things
// are (PATH, HOME, temporary files), how to speak (locale, time zone), how
// to reach the network (proxies, trusted CAs), the Go runtime's and the
// GPU's knobs, and the project's own knobs that plugins read. Nothing else:
// API keys and other secrets reach a plugin only through its config
// (`api_key = env("OPENAI_API_KEY")` in the spec), so a third-party plugin
// never sees another provider's key.
var passEnv = []string{
	"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "TZ",
	"LANG", "LANGUAGE", "LC_*",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
	"http_proxy", "https_proxy", "no_proxy", "all_proxy",
	"SSL_CERT_FILE", "SSL_CERT_DIR",
	"XDG_*", // cache and config folders (os.UserCacheDir)
	"GOMEMLIMIT", "GOGC", "GOMAXPROCS", "GODEBUG",
	"CUDA_VISIBLE_DEVICES",
	"POLYGLOT_PLUGIN_CPUPROFILE",
	// PluginEnvVar itself, so that a plugin that starts plugins passes on
	// the same list.
	PluginEnvVar,
}

// PluginEnvVar names host environment variables, separated by commas,
// passed to plugins on top of the built-in list (entries ending in * are
// prefixes). It is for the rare plugin that needs a variable of its own
// (a tool's home folder, a license server); secrets belong in the config.
const PluginEnvVar = "POLYGLOT_PLUGIN_ENV"

// pluginEnv is the environment a plugin starts with: the entries of environ
// whose names passEnv, extra or POLYGLOT_PLUGIN_ENV list.
func pluginEnv(environ, extra []string) []string {
	allow := append(append([]string{}, passEnv...), extra...)
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, PluginEnvVar+"="); ok {
			for _, n := range strings.Split(v, ",") {
				if n = strings.TrimSpace(n); n != "" {
					allow = append(allow, n)
				}
			}
		}
	}
	var out []string
	for _, kv := range environ {
		name, _, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			continue
		}
		for _, a := range allow {
			if p, wild := strings.CutSuffix(a, "*"); (wild && strings.HasPrefix(name, p)) || name == a {
				out = append(out, kv)
				break
			}
		}
	}
	return out
}

// hostEnv is the host's environment; tests replace it.
var hostEnv = os.Environ
