package sdk

import (
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
)

// Block is the schema of a component's `config { }` block. The host decodes
// the user's block against it with hcldec, so type errors and missing
// attributes are reported at the right line before the plugin sees anything.
type Block struct {
	Description string
	Attributes  []*Attribute
	Blocks      []*NestedBlock
}

// Attribute is one attribute of a config block.
type Attribute struct {
	Name        string
	Type        cty.Type
	Description string
	Required    bool
	Sensitive   bool
	// Default is used when the attribute is absent (cty.NilVal: none, the
	// attribute is null).
	Default cty.Value
	// TeacherRef: the value (a string) names a teacher block of the
	// experiment that the component sends calls to through the host. The
	// host checks that the teacher exists and can serve them (polyglot
	// validate) and counts the calls in the plan.
	TeacherRef bool
}

// Nesting says how often a nested block may appear.
type Nesting int

const (
	NestingSingle Nesting = iota + 1 // at most one: `headers { ... }`
	NestingList                      // any number, in order
	NestingMap                       // labelled: `header "X-Key" { ... }`
)

// NestedBlock is a block inside a config block.
type NestedBlock struct {
	TypeName string
	Nesting  Nesting
	Block    *Block
	MinItems int
	MaxItems int
}

// Schema builds a config block schema from attributes and nested blocks:
//
//	sdk.Schema(
//		sdk.Attr("base_url", cty.String).Doc("where the server listens").Default(cty.StringVal("http://127.0.0.1:8000/v1")),
//		sdk.Attr("api_key", cty.String).Sensitive(),
//		sdk.Nested("headers", sdk.NestingMap, sdk.Schema(sdk.Attr("value", cty.String).Required())),
//	)
func Schema(items ...SchemaItem) *Block {
	b := &Block{}
	for _, it := range items {
		it.addTo(b)
	}
	return b
}

// SchemaItem is an attribute or a nested block, for Schema.
type SchemaItem interface{ addTo(*Block) }

// AttrBuilder builds an Attribute; see Schema.
type AttrBuilder struct{ a *Attribute }

// Attr starts an optional attribute of type t.
func Attr(name string, t cty.Type) AttrBuilder {
	return AttrBuilder{&Attribute{Name: name, Type: t}}
}

func (ab AttrBuilder) Required() AttrBuilder           { ab.a.Required = true; return ab }
func (ab AttrBuilder) Sensitive() AttrBuilder          { ab.a.Sensitive = true; return ab }
func (ab AttrBuilder) TeacherRef() AttrBuilder         { ab.a.TeacherRef = true; return ab }
func (ab AttrBuilder) Doc(s string) AttrBuilder        { ab.a.Description = s; return ab }
func (ab AttrBuilder) Default(v cty.Value) AttrBuilder { ab.a.Default = v; return ab }
func (ab AttrBuilder) addTo(b *Block)                  { b.Attributes = append(b.Attributes, ab.a) }

type nestedItem struct{ n *NestedBlock }

func (ni nestedItem) addTo(b *Block) { b.Blocks = append(b.Blocks, ni.n) }

// Nested declares a nested block type.
func Nested(typeName string, nesting Nesting, body *Block) SchemaItem {
	return nestedItem{&NestedBlock{TypeName: typeName, Nesting: nesting, Block: body}}
}

// Doc is a description of the whole block, for Schema.
type Doc string

func (d Doc) addTo(b *Block) { b.Description = string(d) }

// DecoderSpec turns the schema into an hcldec spec the host decodes the
// user's config body with.
func (b *Block) DecoderSpec() hcldec.Spec {
	if b == nil {
		return hcldec.ObjectSpec{}
	}
	spec := hcldec.ObjectSpec{}
	for _, a := range b.Attributes {
		var s hcldec.Spec = &hcldec.AttrSpec{Name: a.Name, Type: a.Type, Required: a.Required}
		if a.Default != cty.NilVal && !a.Required {
			s = &hcldec.DefaultSpec{Primary: s, Default: &hcldec.LiteralSpec{Value: a.Default}}
		}
		spec[a.Name] = s
	}
	for _, nb := range b.Blocks {
		inner := nb.Block.DecoderSpec()
		switch nb.Nesting {
		case NestingList:
			spec[nb.TypeName] = &hcldec.BlockListSpec{TypeName: nb.TypeName, Nested: inner, MinItems: nb.MinItems, MaxItems: nb.MaxItems}
		case NestingMap:
			spec[nb.TypeName] = &hcldec.BlockMapSpec{TypeName: nb.TypeName, LabelNames: []string{"name"}, Nested: inner}
		default:
			spec[nb.TypeName] = &hcldec.BlockSpec{TypeName: nb.TypeName, Nested: inner, Required: nb.MinItems > 0}
		}
	}
	return spec
}

// ImpliedType is the cty type of a decoded config value.
func (b *Block) ImpliedType() cty.Type { return hcldec.ImpliedType(b.DecoderSpec()) }

// SensitivePaths lists the attributes marked sensitive, so the host can keep
// their values out of logs and the store.
func (b *Block) SensitivePaths() []cty.Path {
	var out []cty.Path
	var walk func(*Block, cty.Path)
	walk = func(b *Block, p cty.Path) {
		if b == nil {
			return
		}
		for _, a := range b.Attributes {
			if a.Sensitive {
				out = append(out, append(p.Copy(), cty.GetAttrStep{Name: a.Name}))
			}
		}
		for _, nb := range b.Blocks {
			// Nested sensitive attributes are matched by prefix only at the
			// block level; that is conservative and enough for redaction.
			walk(nb.Block, append(p.Copy(), cty.GetAttrStep{Name: nb.TypeName}))
		}
	}
	walk(b, nil)
	return out
}
