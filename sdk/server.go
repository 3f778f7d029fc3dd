package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/polyglot-teachers/polyglot/sdk/proto/pluginv1"
)

// ProtocolVersion is the plugin protocol version this SDK speaks.
const ProtocolVersion = 1

// Handshake is shared by host and plugins; a binary started by hand without
// it says it is a plugin instead of hanging.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "POLYGLOT_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "d6f0c1b8e5a34f7c9b2e8a41c3d57f09",
}

// PluginName is the single go-plugin plugin every polyglot binary serves; it
// carries all components of all kinds.
const PluginName = "polyglot"

// MaxMessageBytes raises gRPC's 4 MiB default on both sides: a batch of long
// examples or a large config must not fail on size.
const MaxMessageBytes = 256 << 20

const defaultConcurrency = 8

type componentSet struct {
	name, version string
	teachers      map[string]Teacher
	metrics       map[string]Metric
	trainers      map[string]Trainer
	order         []*pb.Component
}

func newComponentSet(opts ServeOpts) (*componentSet, error) {
	s := &componentSet{name: opts.Name, version: opts.Version, teachers: map[string]Teacher{}, metrics: map[string]Metric{}, trainers: map[string]Trainer{}}
	for _, t := range opts.Teachers {
		d := t.Describe()
		if _, dup := s.teachers[d.Name]; dup || d.Name == "" {
			return nil, fmt.Errorf("teacher component name %q is empty or used twice", d.Name)
		}
		s.teachers[d.Name] = t
		s.order = append(s.order, describeToProto(pb.Kind_KIND_TEACHER, d))
	}
	for _, m := range opts.Metrics {
		d := m.Describe()
		if _, dup := s.metrics[d.Name]; dup || d.Name == "" {
			return nil, fmt.Errorf("metric component name %q is empty or used twice", d.Name)
		}
		s.metrics[d.Name] = m
		s.order = append(s.order, describeToProto(pb.Kind_KIND_METRIC, d))
	}
	for _, t := range opts.Trainers {
		d := t.Describe()
		if _, dup := s.trainers[d.Name]; dup || d.Name == "" {
			return nil, fmt.Errorf("trainer component name %q is empty or used twice", d.Name)
		}
		s.trainers[d.Name] = t
		s.order = append(s.order, describeToProto(pb.Kind_KIND_TRAINER, d))
	}
	return s, nil
}

func (s *componentSet) describe(kind pb.Kind, name string) (Description, any, bool) {
	switch kind {
	case pb.Kind_KIND_TEACHER:
		if t, ok := s.teachers[name]; ok {
			return t.Describe(), t, true
		}
	case pb.Kind_KIND_METRIC:
		if m, ok := s.metrics[name]; ok {
			return m.Describe(), m, true
		}
	case pb.Kind_KIND_TRAINER:
		if t, ok := s.trainers[name]; ok {
			return t.Describe(), t, true
		}
	}
	return Description{}, nil, false
}

func unknownComponent(kind pb.Kind, name string) error {
	return status.Errorf(codes.NotFound, "this plugin has no %s component named %q", kindName(kind), name)
}

func kindName(k pb.Kind) string {
	switch k {
	case pb.Kind_KIND_TEACHER:
		return "teacher"
	case pb.Kind_KIND_METRIC:
		return "metric"
	case pb.Kind_KIND_TRAINER:
		return "trainer"
	}
	return "unknown"
}

// grpcPlugin adapts a component set to go-plugin.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	set *componentSet
}

func (p *grpcPlugin) GRPCServer(b *plugin.GRPCBroker, s *grpc.Server) error {
	srv := &server{set: p.set, broker: b}
	pb.RegisterPluginServer(s, srv)
	pb.RegisterTeacherServer(s, &teacherServer{server: srv})
	pb.RegisterMetricServer(s, &metricServer{server: srv})
	pb.RegisterTrainerServer(s, &trainerServer{server: srv})
	return nil
}

func (p *grpcPlugin) GRPCClient(ctx context.Context, b *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return newClient(c, b), nil
}

type server struct {
	pb.UnimplementedPluginServer
	set    *componentSet
	broker *plugin.GRPCBroker

	hostMu sync.Mutex
	hosts  map[uint32]Host
}

func (s *server) GetInfo(ctx context.Context, _ *pb.GetInfo_Request) (*pb.GetInfo_Response, error) {
	return &pb.GetInfo_Response{Name: s.set.name, Version: s.set.version, ProtocolVersion: ProtocolVersion, Components: s.set.order}, nil
}

func (s *server) GetSchema(ctx context.Context, req *pb.GetSchema_Request) (*pb.GetSchema_Response, error) {
	d, _, ok := s.set.describe(req.GetKind(), req.GetComponent())
	if !ok {
		return nil, unknownComponent(req.GetKind(), req.GetComponent())
	}
	return &pb.GetSchema_Response{Schema: SchemaToProto(d.Schema)}, nil
}

func (s *server) ValidateConfig(ctx context.Context, req *pb.ValidateConfig_Request) (*pb.ValidateConfig_Response, error) {
	_, comp, ok := s.set.describe(req.GetKind(), req.GetComponent())
	if !ok {
		return nil, unknownComponent(req.GetKind(), req.GetComponent())
	}
	cfg, err := DecodeConfig(req.GetConfig())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	var diags Diagnostics
	if v, ok := comp.(Validator); ok {
		diags = v.ValidateConfig(ctx, cfg)
	}
	return &pb.ValidateConfig_Response{Diagnostics: diagsToProto(diags)}, nil
}

// hostFor dials the host's callback service when the host offered one.
// A broker id can be dialled once only, and the host offers one id per
// plugin process, so the connection is shared by every call that names it.
func (s *server) hostFor(id uint32) (Host, func(), error) {
	if id == 0 || s.broker == nil {
		return nil, func() {}, nil
	}
	s.hostMu.Lock()
	defer s.hostMu.Unlock()
	if h, ok := s.hosts[id]; ok {
		return h, func() {}, nil
	}
	conn, err := s.broker.Dial(id)
	if err != nil {
		return nil, func() {}, fmt.Errorf("connecting to the host's callback service: %w", err)
	}
	if s.hosts == nil {
		s.hosts = map[uint32]Host{}
	}
	h := &hostClient{c: pb.NewHostClient(conn)}
	s.hosts[id] = h
	return h, func() {}, nil
}

// ---------------------------------------------------------------- teacher

type teacherServer struct {
	pb.UnimplementedTeacherServer
	*server
}

func (s *teacherServer) open(ctx context.Context, o *pb.TeacherOpen) (Generator, Diagnostics, error) {
	t, ok := s.set.teachers[o.GetComponent()]
	if !ok {
		return nil, nil, unknownComponent(pb.Kind_KIND_TEACHER, o.GetComponent())
	}
	cfg, err := DecodeConfig(o.GetConfig())
	if err != nil {
		return nil, nil, status.Error(codes.InvalidArgument, err.Error())
	}
	g, diags := t.Open(ctx, OpenRequest{Model: o.GetModel(), Config: cfg})
	return g, diags, nil
}

func (s *teacherServer) Generate(stream pb.Teacher_GenerateServer) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	o := first.GetOpen()
	if o == nil {
		return status.Error(codes.InvalidArgument, "the first message of a Generate stream must be Open")
	}
	gen, diags, err := s.open(ctx, o)
	if err != nil {
		return err
	}
	opened := &pb.Generate_Opened{Diagnostics: diagsToProto(diags)}
	if m, ok := gen.(MetadataIgnorer); ok && !diags.HasErrors() {
		opened.IgnoresMetadata = m.IgnoresMetadata()
	}
	if err := stream.Send(&pb.Generate_Response{Msg: &pb.Generate_Response_Opened{Opened: opened}}); err != nil {
		return err
	}
	if diags.HasErrors() || gen == nil {
		return nil
	}
	if c, ok := gen.(io.Closer); ok {
		defer c.Close()
	}
	defer profileStream()()
	conc := int(o.GetConcurrency())
	if conc <= 0 {
		conc = defaultConcurrency
	}
	results := make(chan *pb.Result, conc*2)
	sendErr := make(chan error, 1)
	go func() { sendErr <- sendResults(stream, results) }()

	// Calls run on up to conc workers that live as long as the stream: a
	// goroutine per call grew a fresh stack through the HTTP client on
	// every call (an eighth of a teacher plugin's CPU at high rates).
	work := make(chan *Call)
	workers := 0
	var wg sync.WaitGroup
	worker := func(call *Call) {
		defer wg.Done()
		for ; call != nil; call = <-work {
			results <- resultToProto(runCall(ctx, gen, call))
		}
	}
	var recvErr error
recv:
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			recvErr = err
			break
		}
		for _, pc := range req.GetCalls().GetCalls() {
			call := callFromProto(pc)
			select {
			case work <- call: // an idle worker took it
				continue
			default:
			}
			if workers < conc {
				workers++
				wg.Add(1)
				go worker(call)
				continue
			}
			select {
			case work <- call:
			case <-ctx.Done():
				recvErr = ctx.Err()
				break recv
			}
		}
	}
	close(work) // a nil call ends each worker
	wg.Wait()
	close(results)
	if err := <-sendErr; err != nil {
		return err
	}
	return recvErr
}

// profileStream writes a CPU profile of the plugin process while a
// Generate, Compute, Train or Evaluate call runs when
// POLYGLOT_PLUGIN_CPUPROFILE names a file (the process id and the call's
// number in the process are appended): the host's POLYGLOT_CPUPROFILE does
// not see the plugin's share of a call. A call that starts while another is
// profiled is not. It returns the function that stops it.
var profiledCalls atomic.Int64

func profileStream() func() {
	path := os.Getenv("POLYGLOT_PLUGIN_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(fmt.Sprintf("%s.%d.%d", path, os.Getpid(), profiledCalls.Add(1)))
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil { // another stream is being profiled
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// cellGarbage is how much heap beyond the live heap of the last collection
// a finished cell may leave to the runtime's own scavenger.
const cellGarbage = 64 << 20

// releaseCellMemory returns a finished cell's memory to the system when
// there is much of it. debug.FreeOSMemory is a full collection plus a
// madvise of every free page (TLB shootdowns on every core) and the next
// cell faults the pages back in: done after each of the quickstart's 288
// small cells it cost about a tenth of the run's CPU.
func releaseCellMemory() {
	s := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}
	metrics.Read(s)
	var held, live uint64
	for _, x := range s[:3] {
		if x.Value.Kind() == metrics.KindUint64 {
			held += x.Value.Uint64()
		}
	}
	if s[3].Value.Kind() == metrics.KindUint64 {
		live = s[3].Value.Uint64()
	}
	if held > live+cellGarbage {
		debug.FreeOSMemory()
	}
}

// runCall makes one call and turns panics and plain errors into results, so
// one bad call never takes the stream down.
func runCall(ctx context.Context, gen Generator, call *Call) (res *Result) {
	defer func() {
		if r := recover(); r != nil {
			// A bug in the plugin, not the provider failing: sending
			// the call again would panic again, and counting it against
			// the provider would open its circuit breaker.
			res = &Result{ID: call.ID, Err: &CallError{Code: ErrInvalidRequest, Message: fmt.Sprintf("plugin panicked: %v", r)}}
		}
	}()
	if call.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, call.Timeout)
		defer cancel()
	}
	r, err := gen.Generate(ctx, call)
	if err != nil {
		var ce *CallError
		if !errors.As(err, &ce) {
			code := ErrUnknown
			if errors.Is(err, context.Canceled) {
				code = ErrCancelled
			} else if errors.Is(err, context.DeadlineExceeded) {
				code = ErrTimeout
			}
			ce = &CallError{Code: code, Message: err.Error()}
		}
		if r == nil {
			r = &Result{}
		}
		r.Err = ce
	}
	if r == nil {
		r = &Result{Err: &CallError{Code: ErrUnknown, Message: "plugin returned neither a result nor an error"}}
	}
	r.ID = call.ID
	return r
}

// sendResults coalesces results that are ready into one message: under load
// this turns thousands of tiny sends into a few large ones.
func sendResults(stream pb.Teacher_GenerateServer, results <-chan *pb.Result) error {
	var failed error
	for r := range results {
		batch := []*pb.Result{r}
	drain:
		for len(batch) < 512 {
			select {
			case more, ok := <-results:
				if !ok {
					break drain
				}
				batch = append(batch, more)
			default:
				break drain
			}
		}
		if failed != nil {
			continue // keep draining so producers never block
		}
		if err := stream.Send(&pb.Generate_Response{Msg: &pb.Generate_Response_Results{Results: &pb.Generate_Results{Results: batch}}}); err != nil {
			failed = err
		}
	}
	return failed
}

func (s *teacherServer) SubmitBatch(ctx context.Context, req *pb.SubmitBatch_Request) (*pb.SubmitBatch_Response, error) {
	gen, diags, err := s.open(ctx, req.GetOpen())
	if err != nil {
		return nil, err
	}
	if diags.HasErrors() {
		return &pb.SubmitBatch_Response{Diagnostics: diagsToProto(diags)}, nil
	}
	bg, ok := gen.(BatchGenerator)
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "teacher %q has no batch mode; set batch = false", req.GetOpen().GetComponent())
	}
	calls := make([]*Call, len(req.GetCalls()))
	for i, c := range req.GetCalls() {
		calls[i] = callFromProto(c)
	}
	id, err := bg.SubmitBatch(ctx, calls)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &pb.SubmitBatch_Response{BatchId: id, Diagnostics: diagsToProto(diags)}, nil
}

func (s *teacherServer) PollBatch(ctx context.Context, req *pb.PollBatch_Request) (*pb.PollBatch_Response, error) {
	gen, diags, err := s.open(ctx, req.GetOpen())
	if err != nil {
		return nil, err
	}
	if diags.HasErrors() {
		return &pb.PollBatch_Response{Diagnostics: diagsToProto(diags)}, nil
	}
	bg, ok := gen.(BatchGenerator)
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "teacher %q has no batch mode", req.GetOpen().GetComponent())
	}
	st, results, err := bg.PollBatch(ctx, req.GetBatchId())
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	out := &pb.PollBatch_Response{Status: st}
	for _, r := range results {
		out.Results = append(out.Results, resultToProto(r))
	}
	return out, nil
}

// ---------------------------------------------------------------- metric

type metricServer struct {
	pb.UnimplementedMetricServer
	*server
}

func (s *metricServer) Compute(stream pb.Metric_ComputeServer) error {
	defer profileStream()()
	// A cell's accumulator can hold hundreds of MiB; hand the memory back
	// to the system when it is done, since a plugin may idle for a long
	// time between cells.
	defer func() { go releaseCellMemory() }()
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	o := first.GetOpen()
	if o == nil {
		return status.Error(codes.InvalidArgument, "the first message of a Compute stream must be Open")
	}
	m, ok := s.set.metrics[o.GetComponent()]
	if !ok {
		return unknownComponent(pb.Kind_KIND_METRIC, o.GetComponent())
	}
	cfg, err := DecodeConfig(o.GetConfig())
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	host, closeHost, err := s.hostFor(o.GetHostBrokerId())
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	defer closeHost()
	acc, diags := m.Open(ctx, MetricRequest{Config: cfg, Language: o.GetLanguage(), Cell: o.GetCell(), Host: host})
	// The first response acknowledges Open with its diagnostics.
	if err := stream.Send(&pb.Compute_Response{Diagnostics: diagsToProto(diags)}); err != nil {
		return err
	}
	if diags.HasErrors() || acc == nil {
		return nil
	}
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return status.Error(codes.InvalidArgument, "the host closed the stream before Finish")
		}
		if err != nil {
			return err
		}
		switch msg := req.GetMsg().(type) {
		case *pb.Compute_Request_Reference:
			ra, ok := acc.(ReferenceAccepter)
			if ok {
				if err := ra.Reference(ctx, examplesFromProto(msg.Reference.GetExamples())); err != nil {
					return status.Errorf(codes.Internal, "metric %s: reading reference data: %v", o.GetComponent(), err)
				}
			}
			if err := stream.Send(&pb.Compute_Response{}); err != nil {
				return err
			}
		case *pb.Compute_Request_Batch:
			vals, err := acc.Add(ctx, examplesFromProto(msg.Batch.GetExamples()))
			if err != nil {
				return status.Errorf(codes.Internal, "metric %s: %v", o.GetComponent(), err)
			}
			if err := stream.Send(&pb.Compute_Response{Msg: &pb.Compute_Response_Values{Values: &pb.Compute_Values{Values: valuesToProto(vals)}}}); err != nil {
				return err
			}
		case *pb.Compute_Request_Finish:
			vals, agg, err := acc.Finish(ctx)
			if err != nil {
				return status.Errorf(codes.Internal, "metric %s: %v", o.GetComponent(), err)
			}
			for len(vals) > 0 {
				n := min(len(vals), 4096)
				if err := stream.Send(&pb.Compute_Response{Msg: &pb.Compute_Response_Values{Values: &pb.Compute_Values{Values: valuesToProto(vals[:n])}}}); err != nil {
					return err
				}
				vals = vals[n:]
			}
			if agg == nil {
				agg = &Aggregate{}
			}
			pa, err := aggregateToProto(agg)
			if err != nil {
				return status.Error(codes.Internal, err.Error())
			}
			return stream.Send(&pb.Compute_Response{Msg: &pb.Compute_Response_Aggregate{Aggregate: pa}})
		default:
			return status.Error(codes.InvalidArgument, "unexpected message on a Compute stream")
		}
	}
}

// ---------------------------------------------------------------- trainer

type trainerServer struct {
	pb.UnimplementedTrainerServer
	*server
}

type streamReporter struct {
	mu   sync.Mutex
	send func(*pb.TrainerEvent) error
}

func (r *streamReporter) Progress(p Progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.send(&pb.TrainerEvent{Ev: &pb.TrainerEvent_Progress{Progress: &pb.Progress{Done: p.Done, Total: p.Total, Stage: p.Stage, Message: p.Message}}})
}

func (r *streamReporter) Log(level, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.send(&pb.TrainerEvent{Ev: &pb.TrainerEvent_Log{Log: &pb.Log{Level: level, Message: msg}}})
}

func (s *trainerServer) Train(req *pb.Train_Request, stream pb.Trainer_TrainServer) error {
	defer profileStream()()
	ctx := stream.Context()
	t, ok := s.set.trainers[req.GetComponent()]
	if !ok {
		return unknownComponent(pb.Kind_KIND_TRAINER, req.GetComponent())
	}
	cfg, err := DecodeConfig(req.GetConfig())
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	var hp map[string]any
	if req.GetHyperparametersJson() != "" {
		if err := json.Unmarshal([]byte(req.GetHyperparametersJson()), &hp); err != nil {
			return status.Errorf(codes.InvalidArgument, "hyper-parameters are not a JSON object: %v", err)
		}
	}
	host, closeHost, err := s.hostFor(req.GetHostBrokerId())
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	defer closeHost()
	rep := &streamReporter{send: stream.Send}
	res, err := t.Train(ctx, &TrainRequest{Config: cfg, DatasetPath: req.GetDatasetPath(), BaseModel: req.GetBaseModel(), Hyperparameters: hp, WorkDir: req.GetWorkDir(), Language: req.GetLanguage(), Role: req.GetRole(), Key: req.GetKey(), Host: host}, rep)
	if err != nil {
		return status.Errorf(codes.Internal, "trainer %s: %v", req.GetComponent(), err)
	}
	rep.mu.Lock()
	defer rep.mu.Unlock()
	return stream.Send(&pb.TrainerEvent{Ev: &pb.TrainerEvent_TrainResult{TrainResult: &pb.TrainResult{Artifact: res.Artifact, Metrics: res.Metrics}}})
}

func (s *trainerServer) Evaluate(req *pb.Evaluate_Request, stream pb.Trainer_EvaluateServer) error {
	defer profileStream()()
	ctx := stream.Context()
	t, ok := s.set.trainers[req.GetComponent()]
	if !ok {
		return unknownComponent(pb.Kind_KIND_TRAINER, req.GetComponent())
	}
	cfg, err := DecodeConfig(req.GetConfig())
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	host, closeHost, err := s.hostFor(req.GetHostBrokerId())
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	defer closeHost()
	var bms []Benchmark
	for _, b := range req.GetBenchmarks() {
		bms = append(bms, Benchmark{Name: b.GetName(), Task: b.GetTask(), Shots: int(b.GetShots()), Metric: b.GetMetric()})
	}
	rep := &streamReporter{send: stream.Send}
	res, err := t.Evaluate(ctx, &EvalRequest{Config: cfg, Model: req.GetModel(), Benchmarks: bms, Language: req.GetLanguage(), WorkDir: req.GetWorkDir(), Key: req.GetKey(), Host: host}, rep)
	if err != nil {
		return status.Errorf(codes.Internal, "trainer %s: %v", req.GetComponent(), err)
	}
	out := &pb.EvalResult{}
	for _, sc := range res.Scores {
		out.Scores = append(out.Scores, &pb.BenchmarkScore{Benchmark: sc.Benchmark, Score: sc.Score, Stderr: sc.StdErr, N: sc.N})
	}
	rep.mu.Lock()
	defer rep.mu.Unlock()
	return stream.Send(&pb.TrainerEvent{Ev: &pb.TrainerEvent_EvalResult{EvalResult: out}})
}

// ---------------------------------------------------------------- host callbacks (plugin side)

type hostClient struct{ c pb.HostClient }

func (h *hostClient) Generate(ctx context.Context, teacher string, calls []*Call) ([]*Result, error) {
	req := &pb.HostGenerate_Request{Teacher: teacher}
	for _, c := range calls {
		req.Calls = append(req.Calls, callToProto(c))
	}
	resp, err := h.c.Generate(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := DiagsFromProto(resp.GetDiagnostics()).Err(); err != nil {
		return nil, err
	}
	out := make([]*Result, len(resp.GetResults()))
	for i, r := range resp.GetResults() {
		out[i] = resultFromProto(r)
	}
	return out, nil
}

func (h *hostClient) RunJob(ctx context.Context, job *Job, onLog func(string)) (*JobResult, error) {
	stream, err := h.c.RunJob(ctx, jobToProto(job))
	if err != nil {
		return nil, err
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		if l := ev.GetLog(); l != nil && onLog != nil {
			onLog(l.GetMessage())
		}
		if r := ev.GetResult(); r != nil {
			return &JobResult{ExitCode: int(r.GetExitCode()), State: r.GetState(), Error: r.GetError(), Retryable: r.GetRetryable(), WorkDir: r.GetWorkDir()}, nil
		}
	}
}
