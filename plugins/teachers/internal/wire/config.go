package wire

import (
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/rs/zerolog"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/polyglot-teachers/polyglot/sdk"
)

// CommonAttrs are the attributes every HTTP teacher takes; baseURL is the
// provider's default endpoint.
func CommonAttrs(baseURL string) []sdk.SchemaItem {
	return []sdk.SchemaItem{
		sdk.Attr("base_url", cty.String).Doc("Endpoint root of the API.").Default(cty.StringVal(baseURL)),
		sdk.Attr("api_key", cty.String).Sensitive().Doc("API key. Never logged nor echoed back."),
		sdk.Attr("headers", cty.Map(cty.String)).Doc("Extra HTTP headers sent with every request."),
		// The one per-attempt timeout is the teacher block's limits.timeout,
		// which the host sends with every call; this attribute remains only
		// to tell specs written for the old one where it went.
		sdk.Attr("timeout", cty.String).Doc("Not used: the per-request timeout is the teacher's `limits { timeout }`, sent with every call."),
	}
}

// Common is the decoded common part of a config.
type Common struct {
	BaseURL string // without a trailing slash
	APIKey  string
	Headers map[string]string
}

// ParseCommon reads and checks the common attributes; every problem names
// its attribute and says what to do.
func ParseCommon(cfg sdk.Config, defaultURL string) (Common, sdk.Diagnostics) {
	var c Common
	var diags sdk.Diagnostics
	c.BaseURL = strings.TrimRight(cfg.String("base_url"), "/")
	if c.BaseURL == "" {
		c.BaseURL = defaultURL
	}
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		diags = diags.Append(sdk.AttrError("base_url", "invalid base_url", "%q is not an http(s) URL; write it like %q", c.BaseURL, defaultURL))
	}
	c.APIKey = cfg.String("api_key")
	if strings.TrimSpace(c.APIKey) != c.APIKey {
		diags = diags.Append(sdk.AttrError("api_key", "api_key has surrounding white space", "remove the spaces or newline around the key (a key read from a file often ends with a newline)"))
	}
	c.Headers = cfg.StringMap("headers")
	for k := range c.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") {
			diags = diags.Append(sdk.AttrError("headers", "invalid header name", "%q is not a valid HTTP header name", k))
		}
	}
	if s := cfg.String("timeout"); s != "" {
		diags = diags.Append(sdk.AttrError("timeout", "timeout belongs in limits", "the per-request timeout is set once, in the teacher block: limits { timeout = %q }; remove timeout from config (a plugin's own default would otherwise cut every call short)", s))
	}
	return c, diags
}

// Header builds the header set shared by a generator's requests: the
// provider's own headers first, then the user's, which may override them.
func (c Common) Header(provider map[string]string) http.Header {
	h := make(http.Header, len(provider)+len(c.Headers)+2)
	h.Set("Accept", "application/json")
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "polyglot-teacher")
	for k, v := range provider {
		if v != "" {
			h.Set(k, v)
		}
	}
	for k, v := range c.Headers {
		h.Set(k, v)
	}
	return h
}

// Scrubber scrubs the key and anything that carries it.
func (c Common) Scrubber() Scrubber { return NewScrubber(c.APIKey) }

// ObjectFields renders a cty object or map as the inside of a JSON object
// (`"a":1,"b":"x"`), for splicing user-supplied extra fields into a request
// body with Request.Extra. It returns nil for a null or empty value.
func ObjectFields(v cty.Value) ([]byte, error) {
	if v == cty.NilVal || v.IsNull() || !v.IsKnown() {
		return nil, nil
	}
	t := v.Type()
	if !(t.IsObjectType() || t.IsMapType()) {
		return nil, errNotObject
	}
	if v.LengthInt() == 0 {
		return nil, nil
	}
	b, err := ctyjson.Marshal(v, t)
	if err != nil {
		return nil, err
	}
	b = []byte(strings.TrimSpace(string(b)))
	return b[1 : len(b)-1], nil
}

type constErr string

func (e constErr) Error() string { return string(e) }

const errNotObject = constErr("must be an object, like { top_k = 20 }")

// Attr returns a config attribute as a cty value (null when absent), for
// attributes of dynamic type that the typed accessors do not cover.
func Attr(cfg sdk.Config, name string) cty.Value {
	v := cfg.V
	if v == cty.NilVal || v.IsNull() || !v.IsKnown() || !v.Type().IsObjectType() || !v.Type().HasAttribute(name) {
		return cty.NullVal(cty.DynamicPseudoType)
	}
	return v.GetAttr(name)
}

// Logger is the teacher's logger: JSON lines on stderr, which the plugin
// host forwards. Never log a config value that may hold the key.
func Logger(plugin string) zerolog.Logger {
	return zerolog.New(os.Stderr).With().Timestamp().Str("teacher", plugin).Logger()
}
