package trl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// ErrNoGPU is wrapped by CheckGPU's errors.
var ErrNoGPU = errors.New(`no GPU: the trl trainer needs CUDA; use trainer = "cpu" or run on a GPU node via executor "slurm"`)

// GPU is one device nvidia-smi lists.
type GPU struct {
	Index int
	Name  string
}

// CheckGPU verifies that CUDA devices are visible to processes started here:
// CUDA_VISIBLE_DEVICES must not hide them all and nvidia-smi (smi; empty
// means the one on PATH) must list at least one. It is for the local
// executor; jobs sent elsewhere check again on their node (the rendered
// scripts exit early without CUDA).
func CheckGPU(ctx context.Context, smi string) ([]GPU, error) {
	if v, set := os.LookupEnv("CUDA_VISIBLE_DEVICES"); set && (strings.TrimSpace(v) == "" || strings.TrimSpace(v) == "-1") {
		return nil, fmt.Errorf("%w (CUDA_VISIBLE_DEVICES=%q hides every device)", ErrNoGPU, v)
	}
	if smi == "" {
		smi = "nvidia-smi"
	}
	bin, err := exec.LookPath(smi)
	if err != nil {
		return nil, fmt.Errorf("%w (%s not found: no NVIDIA driver on this machine)", ErrNoGPU, smi)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--query-gpu=index,name", "--format=csv,noheader")
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String() + " " + out.String())
		return nil, fmt.Errorf("%w (nvidia-smi failed: %v: %s)", ErrNoGPU, err, msg)
	}
	var gpus []GPU
	for _, line := range strings.Split(out.String(), "\n") {
		idx, name, ok := strings.Cut(strings.TrimSpace(line), ",")
		if !ok {
			continue
		}
		var g GPU
		if _, err := fmt.Sscan(strings.TrimSpace(idx), &g.Index); err != nil {
			continue
		}
		g.Name = strings.TrimSpace(name)
		gpus = append(gpus, g)
	}
	if len(gpus) == 0 {
		return nil, fmt.Errorf("%w (nvidia-smi lists no devices)", ErrNoGPU)
	}
	return gpus, nil
}
