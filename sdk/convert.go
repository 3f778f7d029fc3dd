package sdk

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
	"github.com/zclconf/go-cty/cty/msgpack"

	pb "github.com/polyglot-teachers/polyglot/sdk/proto/pluginv1"
)

// This file converts between the SDK's Go types and the wire messages. Both
// the plugin side and the host side use it.

func diagsToProto(ds Diagnostics) []*pb.Diagnostic {
	out := make([]*pb.Diagnostic, 0, len(ds))
	for _, d := range ds {
		sev := pb.Diagnostic_SEVERITY_ERROR
		if d.Severity == Warning {
			sev = pb.Diagnostic_SEVERITY_WARNING
		}
		out = append(out, &pb.Diagnostic{Severity: sev, Summary: d.Summary, Detail: d.Detail, Attribute: pathToProto(d.Path)})
	}
	return out
}

// DiagsFromProto converts wire diagnostics.
func DiagsFromProto(ps []*pb.Diagnostic) Diagnostics {
	var out Diagnostics
	for _, p := range ps {
		sev := Error
		if p.GetSeverity() == pb.Diagnostic_SEVERITY_WARNING {
			sev = Warning
		}
		out = append(out, Diagnostic{Severity: sev, Summary: p.GetSummary(), Detail: p.GetDetail(), Path: pathFromProto(p.GetAttribute())})
	}
	return out
}

func pathToProto(p cty.Path) *pb.AttributePath {
	if len(p) == 0 {
		return nil
	}
	out := &pb.AttributePath{}
	for _, s := range p {
		switch s := s.(type) {
		case cty.GetAttrStep:
			out.Steps = append(out.Steps, &pb.AttributePath_Step{Selector: &pb.AttributePath_Step_AttributeName{AttributeName: s.Name}})
		case cty.IndexStep:
			if s.Key.Type() == cty.String {
				out.Steps = append(out.Steps, &pb.AttributePath_Step{Selector: &pb.AttributePath_Step_ElementKeyString{ElementKeyString: s.Key.AsString()}})
			} else if s.Key.Type() == cty.Number {
				i, _ := s.Key.AsBigFloat().Int64()
				out.Steps = append(out.Steps, &pb.AttributePath_Step{Selector: &pb.AttributePath_Step_ElementKeyInt{ElementKeyInt: i}})
			}
		}
	}
	return out
}

func pathFromProto(p *pb.AttributePath) cty.Path {
	var out cty.Path
	for _, s := range p.GetSteps() {
		switch sel := s.GetSelector().(type) {
		case *pb.AttributePath_Step_AttributeName:
			out = append(out, cty.GetAttrStep{Name: sel.AttributeName})
		case *pb.AttributePath_Step_ElementKeyString:
			out = append(out, cty.IndexStep{Key: cty.StringVal(sel.ElementKeyString)})
		case *pb.AttributePath_Step_ElementKeyInt:
			out = append(out, cty.IndexStep{Key: cty.NumberIntVal(sel.ElementKeyInt)})
		}
	}
	return out
}

// SchemaToProto converts a schema for the wire.
func SchemaToProto(b *Block) *pb.Schema {
	return &pb.Schema{Block: blockToProto(b)}
}

func blockToProto(b *Block) *pb.Schema_Block {
	if b == nil {
		return &pb.Schema_Block{}
	}
	out := &pb.Schema_Block{Description: b.Description}
	for _, a := range b.Attributes {
		tj, _ := ctyjson.MarshalType(a.Type)
		pa := &pb.Schema_Attribute{Name: a.Name, Type: tj, Description: a.Description, Required: a.Required, Sensitive: a.Sensitive, TeacherRef: a.TeacherRef}
		if a.Default != cty.NilVal {
			if mp, err := msgpack.Marshal(a.Default, a.Type); err == nil {
				pa.DefaultMsgpack = mp
			}
		}
		out.Attributes = append(out.Attributes, pa)
	}
	for _, nb := range b.Blocks {
		n := pb.Schema_NestedBlock_NESTING_SINGLE
		switch nb.Nesting {
		case NestingList:
			n = pb.Schema_NestedBlock_NESTING_LIST
		case NestingMap:
			n = pb.Schema_NestedBlock_NESTING_MAP
		}
		out.BlockTypes = append(out.BlockTypes, &pb.Schema_NestedBlock{TypeName: nb.TypeName, Block: blockToProto(nb.Block), Nesting: n, MinItems: int64(nb.MinItems), MaxItems: int64(nb.MaxItems)})
	}
	return out
}

// SchemaFromProto converts a wire schema; a plugin written in another
// language sends the same message.
func SchemaFromProto(s *pb.Schema) (*Block, error) {
	return blockFromProto(s.GetBlock())
}

func blockFromProto(pbb *pb.Schema_Block) (*Block, error) {
	b := &Block{Description: pbb.GetDescription()}
	for _, a := range pbb.GetAttributes() {
		t := cty.DynamicPseudoType
		if len(a.GetType()) > 0 {
			var err error
			t, err = ctyjson.UnmarshalType(a.GetType())
			if err != nil {
				return nil, fmt.Errorf("attribute %q has an invalid type %s: %w", a.GetName(), a.GetType(), err)
			}
		}
		attr := &Attribute{Name: a.GetName(), Type: t, Description: a.GetDescription(), Required: a.GetRequired(), Sensitive: a.GetSensitive(), TeacherRef: a.GetTeacherRef()}
		if len(a.GetDefaultMsgpack()) > 0 {
			v, err := msgpack.Unmarshal(a.GetDefaultMsgpack(), t)
			if err != nil {
				return nil, fmt.Errorf("attribute %q has an invalid default: %w", a.GetName(), err)
			}
			attr.Default = v
		}
		b.Attributes = append(b.Attributes, attr)
	}
	for _, nb := range pbb.GetBlockTypes() {
		inner, err := blockFromProto(nb.GetBlock())
		if err != nil {
			return nil, fmt.Errorf("block %q: %w", nb.GetTypeName(), err)
		}
		n := NestingSingle
		switch nb.GetNesting() {
		case pb.Schema_NestedBlock_NESTING_LIST:
			n = NestingList
		case pb.Schema_NestedBlock_NESTING_MAP:
			n = NestingMap
		}
		b.Blocks = append(b.Blocks, &NestedBlock{TypeName: nb.GetTypeName(), Nesting: n, Block: inner, MinItems: int(nb.GetMinItems()), MaxItems: int(nb.GetMaxItems())})
	}
	return b, nil
}

// EncodeConfig encodes a config value for the wire. Marks (sensitivity)
// must be removed by the caller first: the plugin needs the real value.
func EncodeConfig(v cty.Value) (*pb.DynamicValue, error) {
	if v == cty.NilVal {
		v = cty.EmptyObjectVal
	}
	mp, err := msgpack.Marshal(v, cty.DynamicPseudoType)
	if err != nil {
		return nil, fmt.Errorf("encoding config: %w", err)
	}
	return &pb.DynamicValue{Msgpack: mp}, nil
}

// DecodeConfig decodes a wire config value.
func DecodeConfig(dv *pb.DynamicValue) (Config, error) {
	if dv == nil || len(dv.Msgpack) == 0 {
		return Config{cty.EmptyObjectVal}, nil
	}
	v, err := msgpack.Unmarshal(dv.Msgpack, cty.DynamicPseudoType)
	if err != nil {
		return Config{}, fmt.Errorf("decoding config: %w", err)
	}
	return Config{v}, nil
}

func callToProto(c *Call) *pb.Call {
	p := &pb.Call{Id: c.ID, Metadata: c.Metadata, TimeoutMillis: c.Timeout.Milliseconds()}
	for _, m := range c.Messages {
		p.Messages = append(p.Messages, &pb.Message{Role: m.Role, Content: m.Content})
	}
	s := &pb.Sampling{MaxTokens: int32(c.Sampling.MaxTokens), Stop: c.Sampling.Stop, Temperature: c.Sampling.Temperature, TopP: c.Sampling.TopP, Seed: c.Sampling.Seed}
	if c.Sampling.TopK != nil {
		k := int32(*c.Sampling.TopK)
		s.TopK = &k
	}
	p.Sampling = s
	p.Output = &pb.OutputFormat{JsonSchema: c.Output.JSONSchema}
	if c.Output.JSON {
		p.Output.Format = pb.OutputFormat_FORMAT_JSON
	}
	return p
}

func callFromProto(p *pb.Call) *Call {
	c := &Call{ID: p.GetId(), Metadata: p.GetMetadata(), Timeout: time.Duration(p.GetTimeoutMillis()) * time.Millisecond}
	for _, m := range p.GetMessages() {
		c.Messages = append(c.Messages, Message{Role: m.GetRole(), Content: m.GetContent()})
	}
	s := p.GetSampling()
	c.Sampling = Sampling{MaxTokens: int(s.GetMaxTokens()), Stop: s.GetStop(), Temperature: s.Temperature, TopP: s.TopP, Seed: s.Seed}
	if s.TopK != nil {
		k := int(*s.TopK)
		c.Sampling.TopK = &k
	}
	c.Output = OutputFormat{JSON: p.GetOutput().GetFormat() == pb.OutputFormat_FORMAT_JSON, JSONSchema: p.GetOutput().GetJsonSchema()}
	return c
}

func resultToProto(r *Result) *pb.Result {
	// Protobuf refuses invalid UTF-8, and a provider's body cut mid-rune
	// would otherwise kill the whole stream instead of one call.
	p := &pb.Result{Id: r.ID, Text: validUTF8(r.Text), FinishReason: r.FinishReason, Usage: &pb.Usage{InputTokens: r.Usage.InputTokens, OutputTokens: r.Usage.OutputTokens}, LatencyMicros: r.Latency.Microseconds(), Model: r.Model}
	if r.Err != nil {
		p.Error = &pb.CallError{Code: pb.CallError_Code(r.Err.Code), Message: validUTF8(r.Err.Message), RetryAfterMillis: r.Err.RetryAfter.Milliseconds(), HttpStatus: int32(r.Err.HTTPStatus), Raw: validUTF8(r.Err.Raw)}
	}
	return p
}

func resultFromProto(p *pb.Result) *Result {
	r := &Result{ID: p.GetId(), Text: p.GetText(), FinishReason: p.GetFinishReason(), Usage: Usage{InputTokens: p.GetUsage().GetInputTokens(), OutputTokens: p.GetUsage().GetOutputTokens()}, Latency: time.Duration(p.GetLatencyMicros()) * time.Microsecond, Model: p.GetModel()}
	if e := p.GetError(); e != nil {
		r.Err = &CallError{Code: ErrorCode(e.GetCode()), Message: e.GetMessage(), RetryAfter: time.Duration(e.GetRetryAfterMillis()) * time.Millisecond, HTTPStatus: int(e.GetHttpStatus()), Raw: e.GetRaw()}
	}
	return r
}

func examplesToProto(es []Example) []*pb.Example {
	out := make([]*pb.Example, len(es))
	for i, e := range es {
		out[i] = &pb.Example{Id: e.ID, Prompt: e.Prompt, Response: e.Response, Language: e.Language, Strategy: e.Strategy, Teacher: e.Teacher}
	}
	return out
}

func examplesFromProto(ps []*pb.Example) []Example {
	out := make([]Example, len(ps))
	for i, p := range ps {
		out[i] = Example{ID: p.GetId(), Prompt: p.GetPrompt(), Response: p.GetResponse(), Language: p.GetLanguage(), Strategy: p.GetStrategy(), Teacher: p.GetTeacher()}
	}
	return out
}

func valuesToProto(vs []ExampleValue) []*pb.ExampleValue {
	out := make([]*pb.ExampleValue, len(vs))
	for i, v := range vs {
		out[i] = &pb.ExampleValue{Id: v.ID, Values: v.Values, Note: v.Note}
	}
	return out
}

func valuesFromProto(ps []*pb.ExampleValue) []ExampleValue {
	out := make([]ExampleValue, len(ps))
	for i, p := range ps {
		out[i] = ExampleValue{ID: p.GetId(), Values: p.GetValues(), Note: p.GetNote()}
	}
	return out
}

func aggregateToProto(a *Aggregate) (*pb.Compute_Aggregate, error) {
	out := &pb.Compute_Aggregate{Values: a.Values}
	if a.Details != nil {
		b, err := json.Marshal(a.Details)
		if err != nil {
			return nil, fmt.Errorf("encoding metric details: %w", err)
		}
		out.DetailsJson = string(b)
	}
	return out, nil
}

func aggregateFromProto(p *pb.Compute_Aggregate) *Aggregate {
	a := &Aggregate{Values: p.GetValues()}
	if p.GetDetailsJson() != "" {
		a.Details = json.RawMessage(p.GetDetailsJson())
	}
	return a
}

func describeToProto(kind pb.Kind, d Description) *pb.Component {
	c := &pb.Component{Kind: kind, Name: d.Name, Description: d.Description, Schema: SchemaToProto(d.Schema)}
	if d.Metric != nil {
		c.Metric = &pb.MetricInfo{Direction: d.Metric.Direction, Values: d.Metric.Values, WantsReference: d.Metric.WantsReference, CallsPerExample: int32(d.Metric.CallsPerExample)}
	}
	if d.Teacher != nil {
		c.Teacher = &pb.TeacherInfo{Replay: d.Teacher.Replay}
	}
	return c
}

func jobToProto(j *Job) *pb.Job {
	return &pb.Job{Key: j.Key, Name: j.Name, Argv: j.Argv, Env: j.Env, Files: j.Files, WorkDir: j.WorkDir, Gpus: int32(j.GPUs), Cpus: int32(j.CPUs), MemoryMb: j.MemoryMB, TimeLimit: j.TimeLimit, Array: int32(j.Array)}
}

// JobFromProto converts a wire job (host side).
func JobFromProto(p *pb.Job) *Job {
	return &Job{Key: p.GetKey(), Name: p.GetName(), Argv: p.GetArgv(), Env: p.GetEnv(), Files: p.GetFiles(), WorkDir: p.GetWorkDir(), GPUs: int(p.GetGpus()), CPUs: int(p.GetCpus()), MemoryMB: p.GetMemoryMb(), TimeLimit: p.GetTimeLimit(), Array: int(p.GetArray())}
}

// validUTF8 replaces invalid UTF-8 (protobuf strings must be valid); the
// check comes first because it is several times faster than the
// replacement's rune-by-rune scan, and answers are almost always valid.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
