package sdk

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	ctyjson "github.com/zclconf/go-cty/cty/json"
	"google.golang.org/grpc"
)

// ServeOpts lists what a plugin binary carries.
type ServeOpts struct {
	Name     string
	Version  string
	Teachers []Teacher
	Metrics  []Metric
	Trainers []Trainer
	// Args are the program's arguments; nil means os.Args[1:]. Built-in
	// plugins run inside the polyglot binary and pass theirs.
	Args []string
}

// Serve runs the plugin until the host goes away. With the single argument
// "describe" it prints the components as JSON and returns without a
// handshake, so authors and the host's installer can inspect a binary.
func Serve(opts ServeOpts) {
	if err := serve(opts); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", opts.Name, err)
		os.Exit(1)
	}
}

func serve(opts ServeOpts) error {
	set, err := newComponentSet(opts)
	if err != nil {
		return err
	}
	args := opts.Args
	if args == nil {
		args = os.Args[1:]
	}
	if len(args) > 0 && args[0] == "describe" {
		return Describe(os.Stdout, opts)
	}
	if os.Getenv(Handshake.MagicCookieKey) != Handshake.MagicCookieValue {
		return fmt.Errorf("this is a polyglot plugin: polyglot starts it, not you. To see what it carries, run it with the argument \"describe\"")
	}
	go watchParent(os.Getppid(), time.Second/2)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{PluginName: &grpcPlugin{set: set}},
		GRPCServer: func(o []grpc.ServerOption) *grpc.Server {
			o = append(o, grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes))
			return grpc.NewServer(o...)
		},
		Logger: Logger(),
	})
	// The host asked it to stop: so do the processes it started.
	endGroup(0, false)
	return nil
}

// watchParent exits when the host dies: go-plugin cannot tell a plugin
// that its host was SIGKILLed, and an orphan would keep burning API budget.
// The processes the plugin started end with it.
func watchParent(ppid int, every time.Duration) {
	for range time.Tick(every) {
		if os.Getppid() != ppid {
			endGroup(3, true)
		}
	}
}

var logger = hclog.New(&hclog.LoggerOptions{Name: "", Level: hclog.Info, Output: os.Stderr, JSONFormat: true})

// Logger is the plugin's logger. It writes JSON lines to stderr in the
// shape go-plugin parses, so the host shows them in its own log with the
// plugin's name. Never write to stdout: before the handshake it breaks the
// protocol, after it the host discards it.
func Logger() hclog.Logger { return logger }

// Describe writes the JSON description of a plugin's components.
func Describe(w *os.File, opts ServeOpts) error {
	set, err := newComponentSet(opts)
	if err != nil {
		return err
	}
	type attr struct {
		Name        string          `json:"name"`
		Type        json.RawMessage `json:"type"`
		Required    bool            `json:"required,omitempty"`
		Sensitive   bool            `json:"sensitive,omitempty"`
		TeacherRef  bool            `json:"teacher_ref,omitempty"`
		Description string          `json:"description,omitempty"`
	}
	type comp struct {
		Kind        string       `json:"kind"`
		Name        string       `json:"name"`
		Description string       `json:"description,omitempty"`
		Config      []attr       `json:"config"`
		Blocks      []string     `json:"blocks,omitempty"`
		Metric      *MetricInfo  `json:"metric,omitempty"`
		Teacher     *TeacherInfo `json:"teacher,omitempty"`
	}
	out := struct {
		Name       string `json:"name"`
		Version    string `json:"version"`
		Protocol   int    `json:"protocol_version"`
		Components []comp `json:"components"`
	}{Name: set.name, Version: set.version, Protocol: ProtocolVersion, Components: []comp{}}
	for _, pc := range set.order {
		d, _, _ := set.describe(pc.GetKind(), pc.GetName())
		c := comp{Kind: kindName(pc.GetKind()), Name: d.Name, Description: d.Description, Metric: d.Metric, Teacher: d.Teacher, Config: []attr{}}
		if d.Schema != nil {
			for _, a := range d.Schema.Attributes {
				tj, _ := ctyjson.MarshalType(a.Type)
				c.Config = append(c.Config, attr{Name: a.Name, Type: tj, Required: a.Required, Sensitive: a.Sensitive, TeacherRef: a.TeacherRef, Description: a.Description})
			}
			for _, b := range d.Schema.Blocks {
				c.Blocks = append(c.Blocks, b.TypeName)
			}
		}
		out.Components = append(out.Components, c)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// PluginMap is the go-plugin plugin set the host uses to dispense a Client.
func PluginMap() plugin.PluginSet { return plugin.PluginSet{PluginName: &grpcPlugin{}} }

// ServerPluginMap is the go-plugin plugin set that serves opts (used by
// sdktest; Serve uses it too).
func ServerPluginMap(opts ServeOpts) plugin.PluginSet {
	set, err := newComponentSet(opts)
	if err != nil {
		panic(err)
	}
	return plugin.PluginSet{PluginName: &grpcPlugin{set: set}}
}
