package spec

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

var executorSpec = &blockSpec{attrs: []attrSpec{
	{name: "partition", ty: cty.String},
	{name: "account", ty: cty.String},
	{name: "qos", ty: cty.String},
	{name: "time", ty: cty.String},
	{name: "gpus", ty: cty.Number},
	{name: "extra", ty: cty.Map(cty.String)},
}}

var studentSpec = &blockSpec{
	attrs: []attrSpec{
		{name: "base_model", ty: cty.String, required: true},
		{name: "family", ty: cty.String},
		{name: "reference", ty: cty.String},
		{name: "trainer", ty: cty.String, required: true},
		{name: "hyperparameters", ty: cty.DynamicPseudoType},
	},
	blocks: []nestedSpec{{typeName: "executor", label: "kind", spec: executorSpec, max: 1}},
	config: true,
}

var executorKinds = []string{"local", "slurm"}

func (l *loader) evalStudent(n *node, ctx *hcl.EvalContext) {
	ev := l.evalBlockNode(n, studentSpec, ctx)
	r := newReader(ev, &l.diags)
	s := &Student{Name: n.name, DeclRange: n.block.DefRange, Ranges: r.ranges()}
	s.BaseModel = r.str("base_model")
	s.Family = r.str("family")
	s.Reference = r.str("reference")
	s.Trainer, s.TrainerComponent = r.pluginRef("trainer")
	s.Hyperparameters = map[string]cty.Value{}
	if v, ok := r.get("hyperparameters"); ok {
		if !(v.Type().IsObjectType() || v.Type().IsMapType()) {
			r.errorf("hyperparameters", "Incorrect attribute value type", "hyperparameters must be an object such as { learning_rate = 5e-5, epochs = 2 }, got %s.", v.Type().FriendlyName())
		} else {
			for it := v.ElementIterator(); it.Next(); {
				k, e := it.Element()
				s.Hyperparameters[k.AsString()] = e
			}
		}
	}
	s.Executor = Executor{Kind: "local"}
	if ebs := ev.blocks["executor"]; len(ebs) > 0 {
		eb := ebs[0]
		er := newReader(eb.ev, &l.diags)
		ex := Executor{
			Kind: eb.block.Labels[0], Partition: er.str("partition"), Account: er.str("account"),
			QOS: er.str("qos"), Time: er.str("time"), GPUs: er.nonNegInt("gpus"), Extra: er.strMap("extra"),
			DeclRange: eb.block.DefRange, Ranges: er.ranges(),
		}
		l.checkExecutorKind(eb, er, ex.Kind, ex.Partition, "submit to", "partition", "account", "qos", "time")
		s.Executor = ex
	}
	s.Config, s.ConfigRange = configBody(ev, n.block.DefRange)
	l.students[n.name] = s
}

// checkExecutorKind validates an executor block's label, shared by students
// and servers: slurm needs a partition (to submit what), and local refuses the
// slurm-only arguments the caller names.
func (l *loader) checkExecutorKind(eb *evalBlock, er *reader, kind, partition, what string, slurmOnly ...string) {
	switch kind {
	case "slurm":
		if partition == "" {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError, Summary: "Missing required argument",
				Detail:  "The slurm executor needs partition = \"...\" naming the partition to " + what + ".",
				Subject: eb.block.DefRange.Ptr(),
			})
		}
	case "local":
		for _, a := range slurmOnly {
			if er.has(a) {
				er.errorf(a, "Unsupported argument", "%s only applies to the slurm executor; remove it or use executor \"slurm\".", a)
			}
		}
	default:
		l.diags = append(l.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid executor kind",
			Detail:   fmt.Sprintf("%q is not an executor.%s Use one of: %s.", kind, didYouMean(kind, executorKinds), quoteList(executorKinds)),
			Subject:  eb.block.LabelRanges[0].Ptr(),
		})
	}
}
