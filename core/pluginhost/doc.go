// Package pluginhost finds, verifies, starts and stops plugin processes.
//
// Plugins are binaries named polyglot-plugin-NAME (optionally with a
// version suffix, polyglot-plugin-NAME_v1.2.3) in a plugin folder. `polyglot
// plugins install` copies one there and records its SHA-256 in the folder's
// lock file; every launch checks the binary against that record, so a
// binary that changed after it was installed is refused. Built-in plugins
// are the polyglot binary itself, re-executed with a hidden subcommand, so
// they run out of process exactly like third-party ones.
//
// Every client is started Managed with AutoMTLS; Manager.Close (and
// go-plugin's CleanupClients on a hard stop) kills them on every exit path,
// and the SDK's parent watch ends them if the host is SIGKILLed.
package pluginhost
