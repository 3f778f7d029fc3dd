package pluginhost

import "github.com/zclconf/go-cty/cty"

func echoConfig(prefix string, upper bool, repeat int) cty.Value {
	p := cty.NullVal(cty.String)
	if prefix != "" {
		p = cty.StringVal(prefix)
	}
	return cty.ObjectVal(map[string]cty.Value{"prefix": p, "uppercase": cty.BoolVal(upper), "repeat": cty.NumberIntVal(int64(repeat))})
}
