package sdk

import (
	"fmt"
	"math/big"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/gocty"
)

// Config is a decoded config block, with typed accessors that return the
// zero value for a null or absent attribute. The host has already checked
// the value against the component's schema, so accessors do not fail on type.
type Config struct{ V cty.Value }

func (c Config) attr(name string) cty.Value {
	if c.V == cty.NilVal || c.V.IsNull() || !c.V.IsKnown() || !c.V.Type().IsObjectType() || !c.V.Type().HasAttribute(name) {
		return cty.NullVal(cty.DynamicPseudoType)
	}
	return c.V.GetAttr(name)
}

// Has reports whether the attribute is set (not null).
func (c Config) Has(name string) bool { return !c.attr(name).IsNull() }

// String returns a string attribute.
func (c Config) String(name string) string {
	v := c.attr(name)
	if v.IsNull() || v.Type() != cty.String {
		return ""
	}
	return v.AsString()
}

// Float returns a number attribute.
func (c Config) Float(name string) float64 {
	v := c.attr(name)
	if v.IsNull() || v.Type() != cty.Number {
		return 0
	}
	f, _ := v.AsBigFloat().Float64()
	return f
}

// Int returns a number attribute truncated to an int.
func (c Config) Int(name string) int {
	v := c.attr(name)
	if v.IsNull() || v.Type() != cty.Number {
		return 0
	}
	i, _ := v.AsBigFloat().Int(new(big.Int))
	return int(i.Int64())
}

// Bool returns a bool attribute.
func (c Config) Bool(name string) bool {
	v := c.attr(name)
	return !v.IsNull() && v.Type() == cty.Bool && v.True()
}

// Strings returns a list or set of strings.
func (c Config) Strings(name string) []string {
	v := c.attr(name)
	if v.IsNull() || !(v.Type().IsListType() || v.Type().IsSetType() || v.Type().IsTupleType()) {
		return nil
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if !e.IsNull() && e.Type() == cty.String {
			out = append(out, e.AsString())
		}
	}
	return out
}

// StringMap returns a map of strings.
func (c Config) StringMap(name string) map[string]string {
	v := c.attr(name)
	if v.IsNull() || !(v.Type().IsMapType() || v.Type().IsObjectType()) {
		return nil
	}
	out := map[string]string{}
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		if !e.IsNull() && e.Type() == cty.String {
			out[k.AsString()] = e.AsString()
		}
	}
	return out
}

// Block returns a nested single block as a Config.
func (c Config) Block(name string) Config { return Config{c.attr(name)} }

// Decode copies the config into a struct whose fields carry `cty:"name"` tags,
// for authors who prefer a struct. Every attribute of the schema needs a field.
func (c Config) Decode(target any) error {
	if err := gocty.FromCtyValue(c.V, target); err != nil {
		return fmt.Errorf("decoding config: %w", err)
	}
	return nil
}
