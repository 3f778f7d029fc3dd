package spec

import (
	"os"

	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/polyglot-teachers/polyglot/core/secret"
)

// functions is the function table of a spec: go-cty's stdlib under the
// names Terraform users know, try/can, plus env() and file().
func functions(dir string, env func(string) (string, bool), read *readPolicy) map[string]function.Function {
	return map[string]function.Function{
		"abs":             stdlib.AbsoluteFunc,
		"ceil":            stdlib.CeilFunc,
		"floor":           stdlib.FloorFunc,
		"log":             stdlib.LogFunc,
		"max":             stdlib.MaxFunc,
		"min":             stdlib.MinFunc,
		"pow":             stdlib.PowFunc,
		"signum":          stdlib.SignumFunc,
		"parseint":        stdlib.ParseIntFunc,
		"upper":           stdlib.UpperFunc,
		"lower":           stdlib.LowerFunc,
		"title":           stdlib.TitleFunc,
		"join":            stdlib.JoinFunc,
		"split":           stdlib.SplitFunc,
		"format":          stdlib.FormatFunc,
		"formatlist":      stdlib.FormatListFunc,
		"formatdate":      stdlib.FormatDateFunc,
		"replace":         stdlib.ReplaceFunc,
		"regex":           stdlib.RegexFunc,
		"regexall":        stdlib.RegexAllFunc,
		"regex_replace":   stdlib.RegexReplaceFunc,
		"trimspace":       stdlib.TrimSpaceFunc,
		"trim":            stdlib.TrimFunc,
		"trimprefix":      stdlib.TrimPrefixFunc,
		"trimsuffix":      stdlib.TrimSuffixFunc,
		"chomp":           stdlib.ChompFunc,
		"indent":          stdlib.IndentFunc,
		"substr":          stdlib.SubstrFunc,
		"strrev":          stdlib.ReverseFunc,
		"strlen":          stdlib.StrlenFunc,
		"concat":          stdlib.ConcatFunc,
		"length":          stdlib.LengthFunc,
		"merge":           stdlib.MergeFunc,
		"keys":            stdlib.KeysFunc,
		"values":          stdlib.ValuesFunc,
		"lookup":          stdlib.LookupFunc,
		"contains":        stdlib.ContainsFunc,
		"index":           stdlib.IndexFunc,
		"range":           stdlib.RangeFunc,
		"element":         stdlib.ElementFunc,
		"coalesce":        stdlib.CoalesceFunc,
		"coalescelist":    stdlib.CoalesceListFunc,
		"compact":         stdlib.CompactFunc,
		"distinct":        stdlib.DistinctFunc,
		"flatten":         stdlib.FlattenFunc,
		"reverse":         stdlib.ReverseListFunc,
		"slice":           stdlib.SliceFunc,
		"sort":            stdlib.SortFunc,
		"chunklist":       stdlib.ChunklistFunc,
		"zipmap":          stdlib.ZipmapFunc,
		"setunion":        stdlib.SetUnionFunc,
		"setintersection": stdlib.SetIntersectionFunc,
		"setsubtract":     stdlib.SetSubtractFunc,
		"setproduct":      stdlib.SetProductFunc,
		"jsonencode":      stdlib.JSONEncodeFunc,
		"jsondecode":      stdlib.JSONDecodeFunc,
		"csvdecode":       stdlib.CSVDecodeFunc,
		"tostring":        stdlib.MakeToFunc(cty.String),
		"tonumber":        stdlib.MakeToFunc(cty.Number),
		"tobool":          stdlib.MakeToFunc(cty.Bool),
		"tolist":          stdlib.MakeToFunc(cty.List(cty.DynamicPseudoType)),
		"toset":           stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
		"tomap":           stdlib.MakeToFunc(cty.Map(cty.DynamicPseudoType)),
		"try":             tryfunc.TryFunc,
		"can":             tryfunc.CanFunc,
		"env":             envFunc(env),
		"file":            fileFunc(dir, read),
	}
}

// envFunc reads an environment variable. The result is marked sensitive
// because environment variables are where API keys live.
func envFunc(env func(string) (string, bool)) function.Function {
	return function.New(&function.Spec{
		Description: "Reads an environment variable; a second argument is the default when it is unset.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		VarParam:    &function.Parameter{Name: "default", Type: cty.String},
		Type: func(args []cty.Value) (cty.Type, error) {
			if len(args) > 2 {
				return cty.NilType, function.NewArgErrorf(2, "env takes a name and at most one default")
			}
			return cty.String, nil
		},
		RefineResult: func(b *cty.RefinementBuilder) *cty.RefinementBuilder { return b.NotNull() },
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			name := args[0].AsString()
			if v, ok := env(name); ok {
				secret.Add(v)
				return cty.StringVal(v).Mark(Sensitive), nil
			}
			if len(args) == 2 {
				AddSecrets(args[1])
				return args[1].Mark(Sensitive), nil
			}
			return cty.NilVal, function.NewArgErrorf(0, "environment variable %q is not set; export it, or give a default as the second argument: env(%q, \"default\")", name, name)
		},
	})
}

// fileFunc reads a file relative to the spec folder, inside what read
// allows (see paths.go).
func fileFunc(dir string, read *readPolicy) function.Function {
	if read == nil {
		read = newReadPolicy(dir)
	}
	return function.New(&function.Spec{
		Description: "Reads a text file, relative to the spec folder (files outside it only when allowed: experiment.allow_read, --allow-read).",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			full := read.full(p)
			if err := read.check(full); err != nil {
				return cty.NilVal, function.NewArgError(0, err)
			}
			b, err := readCapped(full, MaxReadBytes)
			if err != nil {
				if os.IsNotExist(err) {
					return cty.NilVal, function.NewArgErrorf(0, "no file %q in the spec folder %s; paths are relative to the spec folder", p, dir)
				}
				return cty.NilVal, function.NewArgErrorf(0, "cannot read %q: %v", p, err)
			}
			return cty.StringVal(string(b)), nil
		},
	})
}
