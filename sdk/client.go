package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/go-plugin"
	"github.com/zclconf/go-cty/cty"
	"google.golang.org/grpc"

	pb "github.com/polyglot-teachers/polyglot/sdk/proto/pluginv1"
)

// Kind is a component kind.
type Kind int

const (
	KindTeacher Kind = Kind(pb.Kind_KIND_TEACHER)
	KindMetric  Kind = Kind(pb.Kind_KIND_METRIC)
	KindTrainer Kind = Kind(pb.Kind_KIND_TRAINER)
)

func (k Kind) String() string { return kindName(pb.Kind(k)) }

// ComponentInfo describes one component of a plugin binary.
type ComponentInfo struct {
	Kind        Kind         `json:"-"`
	KindName    string       `json:"kind"`
	Name        string       `json:"name"`
	Description string       `json:"description,omitempty"`
	Schema      *Block       `json:"-"`
	Metric      *MetricInfo  `json:"metric,omitempty"`
	Teacher     *TeacherInfo `json:"teacher,omitempty"`
}

// PluginInfo is what GetInfo returns.
type PluginInfo struct {
	Name       string          `json:"name"`
	Version    string          `json:"version"`
	Protocol   int             `json:"protocol_version"`
	Components []ComponentInfo `json:"components"`
}

// Component finds a component by kind and name.
func (pi *PluginInfo) Component(kind Kind, name string) (ComponentInfo, bool) {
	for _, c := range pi.Components {
		if c.Kind == kind && c.Name == name {
			return c, true
		}
	}
	return ComponentInfo{}, false
}

// Client is the host side of the protocol: it speaks to one running plugin.
type Client struct {
	broker  *plugin.GRPCBroker
	plugin  pb.PluginClient
	teacher pb.TeacherClient
	metric  pb.MetricClient
	trainer pb.TrainerClient

	hostOnce sync.Once
	hostID   uint32
	host     Host
}

func newClient(conn *grpc.ClientConn, broker *plugin.GRPCBroker) *Client {
	return &Client{broker: broker, plugin: pb.NewPluginClient(conn), teacher: pb.NewTeacherClient(conn), metric: pb.NewMetricClient(conn), trainer: pb.NewTrainerClient(conn)}
}

// NewClient wraps a gRPC connection to a plugin (tests and non-go-plugin
// transports); broker may be nil, which disables host callbacks.
func NewClient(conn *grpc.ClientConn, broker *plugin.GRPCBroker) *Client {
	return newClient(conn, broker)
}

// SetHost registers the callbacks plugins of this client may use. It must be
// called before the first call that needs them; later calls are ignored.
func (c *Client) SetHost(h Host) { c.host = h }

func (c *Client) hostBrokerID() uint32 {
	if c.host == nil || c.broker == nil {
		return 0
	}
	c.hostOnce.Do(func() {
		c.hostID = c.broker.NextId()
		go c.broker.AcceptAndServe(c.hostID, func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes))
			s := grpc.NewServer(opts...)
			pb.RegisterHostServer(s, &hostServer{h: c.host})
			return s
		})
	})
	return c.hostID
}

// Info asks the plugin for its name, version and components.
func (c *Client) Info(ctx context.Context) (*PluginInfo, error) {
	resp, err := c.plugin.GetInfo(ctx, &pb.GetInfo_Request{})
	if err != nil {
		return nil, err
	}
	pi := &PluginInfo{Name: resp.GetName(), Version: resp.GetVersion(), Protocol: int(resp.GetProtocolVersion())}
	for _, comp := range resp.GetComponents() {
		s, err := SchemaFromProto(comp.GetSchema())
		if err != nil {
			return nil, fmt.Errorf("component %s %q: %w", kindName(comp.GetKind()), comp.GetName(), err)
		}
		ci := ComponentInfo{Kind: Kind(comp.GetKind()), KindName: kindName(comp.GetKind()), Name: comp.GetName(), Description: comp.GetDescription(), Schema: s}
		if m := comp.GetMetric(); m != nil {
			ci.Metric = &MetricInfo{Direction: m.GetDirection(), Values: m.GetValues(), WantsReference: m.GetWantsReference(), CallsPerExample: int(m.GetCallsPerExample())}
		}
		if t := comp.GetTeacher(); t != nil {
			ci.Teacher = &TeacherInfo{Replay: t.GetReplay()}
		}
		pi.Components = append(pi.Components, ci)
	}
	return pi, nil
}

// ValidateConfig runs the component's own checks on a decoded config.
func (c *Client) ValidateConfig(ctx context.Context, kind Kind, component string, cfg cty.Value) (Diagnostics, error) {
	dv, err := EncodeConfig(cfg)
	if err != nil {
		return nil, err
	}
	resp, err := c.plugin.ValidateConfig(ctx, &pb.ValidateConfig_Request{Kind: pb.Kind(kind), Component: component, Config: dv})
	if err != nil {
		return nil, err
	}
	return DiagsFromProto(resp.GetDiagnostics()), nil
}

// TeacherOpen selects a teacher component and configures it.
type TeacherOpen struct {
	Component   string
	Model       string
	Config      cty.Value
	Concurrency int
}

func (o TeacherOpen) proto() (*pb.TeacherOpen, error) {
	dv, err := EncodeConfig(o.Config)
	if err != nil {
		return nil, err
	}
	return &pb.TeacherOpen{Component: o.Component, Model: o.Model, Config: dv, Concurrency: int32(o.Concurrency)}, nil
}

// TeacherStream is an open Generate stream: send calls, receive results in
// completion order.
type TeacherStream struct {
	s  pb.Teacher_GenerateClient
	mu sync.Mutex
	// noMetadata: the plugin said it never reads calls' metadata, so Send
	// leaves it out.
	noMetadata bool
}

// IgnoresMetadata reports whether the plugin said it never reads calls'
// metadata (see MetadataIgnorer); Send then leaves it out.
func (t *TeacherStream) IgnoresMetadata() bool { return t.noMetadata }

// OpenTeacher opens a Generate stream. Configuration problems come back as
// diagnostics (with attribute paths), transport problems as the error.
func (c *Client) OpenTeacher(ctx context.Context, o TeacherOpen) (*TeacherStream, Diagnostics, error) {
	po, err := o.proto()
	if err != nil {
		return nil, nil, err
	}
	s, err := c.teacher.Generate(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := s.Send(&pb.Generate_Request{Msg: &pb.Generate_Request_Open{Open: po}}); err != nil {
		return nil, nil, err
	}
	first, err := s.Recv()
	if err != nil {
		return nil, nil, err
	}
	diags := DiagsFromProto(first.GetOpened().GetDiagnostics())
	if diags.HasErrors() {
		return nil, diags, nil
	}
	return &TeacherStream{s: s, noMetadata: first.GetOpened().GetIgnoresMetadata()}, diags, nil
}

// Send sends calls; safe for concurrent use.
func (t *TeacherStream) Send(calls []*Call) error {
	m := &pb.Generate_Calls{Calls: make([]*pb.Call, len(calls))}
	for i, c := range calls {
		m.Calls[i] = callToProto(c)
		if t.noMetadata {
			m.Calls[i].Metadata = nil
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.s.Send(&pb.Generate_Request{Msg: &pb.Generate_Request_Calls{Calls: m}})
}

// Recv returns the next results; io.EOF after CloseSend once all are in.
func (t *TeacherStream) Recv() ([]*Result, error) {
	for {
		resp, err := t.s.Recv()
		if err != nil {
			return nil, err
		}
		rs := resp.GetResults().GetResults()
		if len(rs) == 0 {
			continue
		}
		out := make([]*Result, len(rs))
		for i, r := range rs {
			out[i] = resultFromProto(r)
		}
		return out, nil
	}
}

// CloseSend says no more calls will come.
func (t *TeacherStream) CloseSend() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.s.CloseSend()
}

// Generate is a convenience for small jobs and tests: it sends all calls
// and returns the results in the calls' order.
func (c *Client) Generate(ctx context.Context, o TeacherOpen, calls []*Call) ([]*Result, Diagnostics, error) {
	ts, diags, err := c.OpenTeacher(ctx, o)
	if err != nil || diags.HasErrors() {
		return nil, diags, err
	}
	sendErr := make(chan error, 1)
	go func() {
		for i := 0; i < len(calls); i += 256 {
			if err := ts.Send(calls[i:min(i+256, len(calls))]); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- ts.CloseSend()
	}()
	byID := make(map[string]*Result, len(calls))
	for {
		rs, err := ts.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, diags, err
		}
		for _, r := range rs {
			byID[r.ID] = r
		}
	}
	if err := <-sendErr; err != nil {
		return nil, diags, err
	}
	out := make([]*Result, len(calls))
	for i, call := range calls {
		r, ok := byID[call.ID]
		if !ok {
			return nil, diags, fmt.Errorf("the plugin returned no result for call %q", call.ID)
		}
		out[i] = r
	}
	return out, diags, nil
}

// SubmitBatch submits calls to the teacher's batch API.
func (c *Client) SubmitBatch(ctx context.Context, o TeacherOpen, calls []*Call) (string, Diagnostics, error) {
	po, err := o.proto()
	if err != nil {
		return "", nil, err
	}
	req := &pb.SubmitBatch_Request{Open: po}
	for _, call := range calls {
		req.Calls = append(req.Calls, callToProto(call))
	}
	resp, err := c.teacher.SubmitBatch(ctx, req)
	if err != nil {
		return "", nil, err
	}
	return resp.GetBatchId(), DiagsFromProto(resp.GetDiagnostics()), nil
}

// PollBatch asks for a batch's status and, once done, its results.
func (c *Client) PollBatch(ctx context.Context, o TeacherOpen, batchID string) (string, []*Result, Diagnostics, error) {
	po, err := o.proto()
	if err != nil {
		return "", nil, nil, err
	}
	resp, err := c.teacher.PollBatch(ctx, &pb.PollBatch_Request{Open: po, BatchId: batchID})
	if err != nil {
		return "", nil, nil, err
	}
	out := make([]*Result, len(resp.GetResults()))
	for i, r := range resp.GetResults() {
		out[i] = resultFromProto(r)
	}
	return resp.GetStatus(), out, DiagsFromProto(resp.GetDiagnostics()), nil
}

// MetricOpen selects a metric component for one cell.
type MetricOpen struct {
	Component string
	Config    cty.Value
	Language  string
	Cell      string
}

// MetricStream is an open Compute stream.
type MetricStream struct {
	s pb.Metric_ComputeClient
}

// OpenMetric opens a Compute stream for one cell.
func (c *Client) OpenMetric(ctx context.Context, o MetricOpen) (*MetricStream, Diagnostics, error) {
	dv, err := EncodeConfig(o.Config)
	if err != nil {
		return nil, nil, err
	}
	s, err := c.metric.Compute(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := s.Send(&pb.Compute_Request{Msg: &pb.Compute_Request_Open{Open: &pb.Compute_Open{Component: o.Component, Config: dv, Language: o.Language, Cell: o.Cell, HostBrokerId: c.hostBrokerID()}}}); err != nil {
		return nil, nil, err
	}
	first, err := s.Recv()
	if err != nil {
		return nil, nil, err
	}
	diags := DiagsFromProto(first.GetDiagnostics())
	if diags.HasErrors() {
		return nil, diags, nil
	}
	return &MetricStream{s: s}, diags, nil
}

// Reference sends seed rows the metric compares against.
func (m *MetricStream) Reference(batch []Example) error {
	if err := m.s.Send(&pb.Compute_Request{Msg: &pb.Compute_Request_Reference{Reference: &pb.Compute_Batch{Examples: examplesToProto(batch)}}}); err != nil {
		return err
	}
	_, err := m.s.Recv()
	return err
}

// Add sends a batch and returns the values the metric had ready for it.
func (m *MetricStream) Add(batch []Example) ([]ExampleValue, error) {
	if err := m.s.Send(&pb.Compute_Request{Msg: &pb.Compute_Request_Batch{Batch: &pb.Compute_Batch{Examples: examplesToProto(batch)}}}); err != nil {
		return nil, err
	}
	resp, err := m.s.Recv()
	if err != nil {
		return nil, err
	}
	return valuesFromProto(resp.GetValues().GetValues()), nil
}

// Finish ends the cell and returns the remaining values and the aggregate.
func (m *MetricStream) Finish() ([]ExampleValue, *Aggregate, error) {
	if err := m.s.Send(&pb.Compute_Request{Msg: &pb.Compute_Request_Finish{Finish: &pb.Compute_Finish{}}}); err != nil {
		return nil, nil, err
	}
	var vals []ExampleValue
	for {
		resp, err := m.s.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, nil, fmt.Errorf("the metric ended the stream without an aggregate")
			}
			return nil, nil, err
		}
		if a := resp.GetAggregate(); a != nil {
			_ = m.s.CloseSend()
			return vals, aggregateFromProto(a), nil
		}
		vals = append(vals, valuesFromProto(resp.GetValues().GetValues())...)
	}
}

func (c *Client) trainerEvents(recv func() (*pb.TrainerEvent, error), r Reporter) (*pb.TrainerEvent, error) {
	for {
		ev, err := recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("the trainer ended the stream without a result")
			}
			return nil, err
		}
		if d := DiagsFromProto(ev.GetDiagnostics()); d.HasErrors() {
			return nil, d.Err()
		}
		switch e := ev.GetEv().(type) {
		case *pb.TrainerEvent_Progress:
			if r != nil {
				r.Progress(Progress{Done: e.Progress.GetDone(), Total: e.Progress.GetTotal(), Stage: e.Progress.GetStage(), Message: e.Progress.GetMessage()})
			}
		case *pb.TrainerEvent_Log:
			if r != nil {
				r.Log(e.Log.GetLevel(), e.Log.GetMessage())
			}
		case *pb.TrainerEvent_TrainResult, *pb.TrainerEvent_EvalResult:
			return ev, nil
		}
	}
}

// Train runs a trainer's Train, streaming progress to r.
func (c *Client) Train(ctx context.Context, component string, req *TrainRequest, r Reporter) (*TrainResult, error) {
	dv, err := EncodeConfig(req.Config.V)
	if err != nil {
		return nil, err
	}
	hp, err := json.Marshal(req.Hyperparameters)
	if err != nil {
		return nil, fmt.Errorf("hyper-parameters: %w", err)
	}
	s, err := c.trainer.Train(ctx, &pb.Train_Request{Component: component, Config: dv, DatasetPath: req.DatasetPath, BaseModel: req.BaseModel, HyperparametersJson: string(hp), WorkDir: req.WorkDir, Language: req.Language, Role: req.Role, HostBrokerId: c.hostBrokerID(), Key: req.Key})
	if err != nil {
		return nil, err
	}
	ev, err := c.trainerEvents(s.Recv, r)
	if err != nil {
		return nil, err
	}
	tr := ev.GetTrainResult()
	if tr == nil {
		return nil, fmt.Errorf("the trainer answered Train with an evaluation result")
	}
	return &TrainResult{Artifact: tr.GetArtifact(), Metrics: tr.GetMetrics()}, nil
}

// Evaluate runs a trainer's Evaluate, streaming progress to r.
func (c *Client) Evaluate(ctx context.Context, component string, req *EvalRequest, r Reporter) (*EvalResult, error) {
	dv, err := EncodeConfig(req.Config.V)
	if err != nil {
		return nil, err
	}
	preq := &pb.Evaluate_Request{Component: component, Config: dv, Model: req.Model, Language: req.Language, WorkDir: req.WorkDir, HostBrokerId: c.hostBrokerID(), Key: req.Key}
	for _, b := range req.Benchmarks {
		preq.Benchmarks = append(preq.Benchmarks, &pb.BenchmarkSpec{Name: b.Name, Task: b.Task, Shots: int32(b.Shots), Metric: b.Metric})
	}
	s, err := c.trainer.Evaluate(ctx, preq)
	if err != nil {
		return nil, err
	}
	ev, err := c.trainerEvents(s.Recv, r)
	if err != nil {
		return nil, err
	}
	er := ev.GetEvalResult()
	if er == nil {
		return nil, fmt.Errorf("the trainer answered Evaluate with a training result")
	}
	out := &EvalResult{}
	for _, sc := range er.GetScores() {
		out.Scores = append(out.Scores, BenchmarkScore{Benchmark: sc.GetBenchmark(), Score: sc.GetScore(), StdErr: sc.GetStderr(), N: sc.GetN()})
	}
	return out, nil
}

// hostServer serves the host's callbacks to plugins.
type hostServer struct {
	pb.UnimplementedHostServer
	h Host
}

func (s *hostServer) Generate(ctx context.Context, req *pb.HostGenerate_Request) (*pb.HostGenerate_Response, error) {
	calls := make([]*Call, len(req.GetCalls()))
	for i, c := range req.GetCalls() {
		calls[i] = callFromProto(c)
	}
	rs, err := s.h.Generate(ctx, req.GetTeacher(), calls)
	if err != nil {
		return &pb.HostGenerate_Response{Diagnostics: diagsToProto(Diagnostics{{Severity: Error, Summary: "host could not run the calls", Detail: err.Error()}})}, nil
	}
	out := &pb.HostGenerate_Response{}
	for _, r := range rs {
		out.Results = append(out.Results, resultToProto(r))
	}
	return out, nil
}

func (s *hostServer) RunJob(job *pb.Job, stream pb.Host_RunJobServer) error {
	var mu sync.Mutex
	res, err := s.h.RunJob(stream.Context(), JobFromProto(job), func(line string) {
		mu.Lock()
		defer mu.Unlock()
		_ = stream.Send(&pb.JobEvent{Ev: &pb.JobEvent_Log{Log: &pb.Log{Level: "info", Message: line}}})
	})
	if err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	return stream.Send(&pb.JobEvent{Ev: &pb.JobEvent_Result{Result: &pb.JobResult{ExitCode: int32(res.ExitCode), State: res.State, Error: res.Error, Retryable: res.Retryable, WorkDir: res.WorkDir}}})
}
