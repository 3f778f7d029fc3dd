//go:build tools

// Package main: this file only pins dependencies that later code uses.
package main
import (
 _ "github.com/hashicorp/go-plugin"
 _ "github.com/hashicorp/hcl/v2"
 _ "github.com/hashicorp/hcl/v2/hclsyntax"
 _ "github.com/hashicorp/hcl/v2/hcldec"
 _ "github.com/hashicorp/hcl/v2/gohcl"
 _ "github.com/zclconf/go-cty/cty"
 _ "github.com/zclconf/go-cty/cty/function/stdlib"
 _ "github.com/zclconf/go-cty/cty/msgpack"
 _ "github.com/rs/zerolog"
 _ "github.com/google/go-cmp/cmp"
 _ "google.golang.org/grpc"
 _ "google.golang.org/protobuf/proto"
 _ "modernc.org/sqlite"
 _ "gonum.org/v1/gonum/mat"
 _ "gonum.org/v1/gonum/stat"
 _ "github.com/cenkalti/backoff/v5"
 _ "golang.org/x/time/rate"
 _ "github.com/parquet-go/parquet-go"
 _ "golang.org/x/text/language"
 _ "golang.org/x/text/language/display"
 _ "golang.org/x/term"
 _ "golang.org/x/sync/errgroup"
 _ "github.com/hashicorp/go-hclog"
 _ "github.com/hashicorp/go-version"
)
func main(){}
