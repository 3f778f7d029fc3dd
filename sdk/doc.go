// Package sdk is what a polyglot plugin author imports.
//
// A plugin is a program that calls Serve with the components it carries:
// teachers (they answer calls with text), metrics (they measure a cell's
// examples) and trainers (they train and evaluate student models). The
// polyglot host starts the program through hashicorp/go-plugin and talks to
// it over gRPC with the protocol in proto/polyglot/plugin/v1; authors never
// see the wire. A minimal teacher:
//
//	type echo struct{}
//
//	func (echo) Describe() sdk.Description {
//		return sdk.Description{Name: "echo", Schema: sdk.Schema(sdk.Attr("prefix", cty.String))}
//	}
//	func (echo) Open(ctx context.Context, req sdk.OpenRequest) (sdk.Generator, sdk.Diagnostics) {
//		return sdk.GeneratorFunc(func(ctx context.Context, c *sdk.Call) (*sdk.Result, error) {
//			return &sdk.Result{Text: c.Messages[len(c.Messages)-1].Content}, nil
//		}), nil
//	}
//
//	func main() { sdk.Serve(sdk.ServeOpts{Name: "echo", Version: "0.1.0", Teachers: []sdk.Teacher{echo{}}}) }
//
// The package holds both sides of the protocol (the server plugins run and
// the client the host uses), the way packer-plugin-sdk does, so the two
// cannot drift apart. Package sdktest runs a plugin in-process over real gRPC.
package sdk
