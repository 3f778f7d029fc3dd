package spec

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

// DecodeBody decodes a plugin-owned config body against the schema the
// plugin declares. A nil body decodes as an empty one, so a schema with
// required attributes still reports them. Blocks' Config fields are never
// nil: when the config block is absent they hold an empty body located at
// the owning block, so such errors point at that block.
func DecodeBody(body hcl.Body, s hcldec.Spec, ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	if body == nil {
		body = hcl.EmptyBody()
	}
	if s == nil {
		s = &hcldec.ObjectSpec{}
	}
	return hcldec.Decode(body, s, ctx)
}
