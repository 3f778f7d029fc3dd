// Package sdktest runs a plugin's components in-process over real gRPC, so
// plugin authors test the same code path the host uses without building a
// binary or doing a handshake.
package sdktest

import (
	"context"
	"testing"

	"github.com/hashicorp/go-plugin"
	"github.com/zclconf/go-cty/cty"

	"github.com/polyglot-teachers/polyglot/sdk"
)

// Start serves opts's components on an in-memory gRPC connection and
// returns the host-side client. The connection closes when the test ends.
func Start(t testing.TB, opts sdk.ServeOpts) *sdk.Client {
	t.Helper()
	set := plugin.PluginSet{}
	for k, v := range sdk.ServerPluginMap(opts) {
		set[k] = v
	}
	client, _ := plugin.TestPluginGRPCConn(t, false, set)
	t.Cleanup(func() { client.Close() })
	raw, err := client.Dispense(sdk.PluginName)
	if err != nil {
		t.Fatalf("dispensing the plugin: %v", err)
	}
	return raw.(*sdk.Client)
}

// Config decodes an HCL-like attribute map for a component's schema the way
// the host does, failing the test on a mismatch. Pass cty values.
func Config(t testing.TB, schema *sdk.Block, attrs map[string]cty.Value) cty.Value {
	t.Helper()
	want := schema.ImpliedType()
	vals := map[string]cty.Value{}
	for name, at := range want.AttributeTypes() {
		v, ok := attrs[name]
		if !ok {
			v = cty.NullVal(at)
			for _, a := range schema.Attributes {
				if a.Name == name && a.Default != cty.NilVal {
					v = a.Default
				}
			}
		}
		vals[name] = v
	}
	for name := range attrs {
		if !want.HasAttribute(name) {
			t.Fatalf("attribute %q is not in the component's schema", name)
		}
	}
	return cty.ObjectVal(vals)
}

// Generate is a one-shot helper: open the teacher, send calls, collect
// results in order; diagnostics with errors fail the test.
func Generate(t testing.TB, c *sdk.Client, o sdk.TeacherOpen, calls ...*sdk.Call) []*sdk.Result {
	t.Helper()
	rs, diags, err := c.Generate(context.Background(), o, calls)
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	if diags.HasErrors() {
		t.Fatalf("generate: %v", diags.Err())
	}
	return rs
}
