package perplexity

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/rs/zerolog"

	"github.com/polyglot-teachers/polyglot/plugins/internal/kn"
	"github.com/polyglot-teachers/polyglot/sdk"
)

var log = zerolog.New(os.Stderr).With().Timestamp().Str("metric", "perplexity").Logger()

// modelKey identifies a trained reference model in memory.
type modelKey struct {
	path  string // absolute
	order int
	sum   string // hex SHA-256 of the corpus file
}

type modelEntry struct {
	once  sync.Once
	model *kn.Model
	src   string
	err   error
}

// models caches trained reference models for the life of the process: every
// cell of a language shares one. Entries are built once even when several
// cells open at the same time.
var models struct {
	mu sync.Mutex
	m  map[modelKey]*modelEntry
}

type modelInfo struct {
	sum    string
	source string // "trained", "disk cache" or "memory cache"
}

// referenceModel returns the model trained on the corpus at path. A problem
// with the corpus is a diagnostic on the reference attribute.
func referenceModel(ctx context.Context, path string, order int, cacheDir string) (*kn.Model, modelInfo, *sdk.Diagnostic) {
	refErr := func(summary, detail string, args ...any) *sdk.Diagnostic {
		d := sdk.AttrError("reference", summary, detail, args...)
		return &d
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, modelInfo{}, refErr("reference corpus path is invalid", "%s: %v", path, err)
	}
	sum, err := hashFile(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			wd, _ := os.Getwd()
			return nil, modelInfo{}, refErr("reference corpus not found",
				"%s does not exist (relative paths are resolved against %s, the experiment folder); put a text file with one document per line there, or point reference at one (\"{lang}\" is replaced by the cell language)", path, wd)
		}
		return nil, modelInfo{}, refErr("reference corpus unreadable", "%s: %v", path, err)
	}
	key := modelKey{abs, order, sum}
	models.mu.Lock()
	if models.m == nil {
		models.m = map[modelKey]*modelEntry{}
	}
	e, hit := models.m[key]
	if !hit {
		e = &modelEntry{}
		models.m[key] = e
	}
	models.mu.Unlock()
	e.once.Do(func() { e.model, e.src, e.err = buildModel(ctx, abs, order, sum, cacheDir) })
	if e.err != nil {
		// Forget failures (a cancelled context, say) so a later cell retries.
		models.mu.Lock()
		if models.m[key] == e {
			delete(models.m, key)
		}
		models.mu.Unlock()
		return nil, modelInfo{}, refErr("reference model could not be built", "%s: %v", path, e.err)
	}
	src := e.src
	if hit {
		src = "memory cache"
	}
	return e.model, modelInfo{sum: sum, source: src}, nil
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return "", fmt.Errorf("is a directory; give a text file")
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// cachePath names a model on disk by corpus content and order only, so that
// moving or renaming the corpus keeps the cache valid.
func cachePath(dir, sum string, order int) string {
	return filepath.Join(dir, fmt.Sprintf("reference-%s-o%d.kn", sum[:32], order))
}

func buildModel(ctx context.Context, path string, order int, sum, cacheDir string) (*kn.Model, string, error) {
	if cacheDir != "" {
		p := cachePath(cacheDir, sum, order)
		m, err := kn.Load(p)
		switch {
		case err == nil && m.Order() == order:
			return m, "disk cache", nil
		case err == nil:
			log.Warn().Str("file", p).Msg("cached model has the wrong order; retraining")
		case !errors.Is(err, fs.ErrNotExist):
			// A damaged cache file is not fatal: retrain and overwrite it.
			log.Warn().Err(err).Str("file", p).Msg("cached reference model unreadable; retraining")
		}
	}
	m, err := trainModel(ctx, path, order)
	if err != nil {
		return nil, "", err
	}
	if cacheDir != "" {
		if err := os.MkdirAll(cacheDir, 0o755); err != nil {
			log.Warn().Err(err).Msg("cannot create the model cache directory; the model is not kept on disk")
		} else if err := m.Save(cachePath(cacheDir, sum, order)); err != nil {
			log.Warn().Err(err).Msg("cannot save the reference model to the cache")
		}
	}
	return m, "trained", nil
}

// chunkBytes bounds the text handed to kn.Add at once.
const chunkBytes = 1 << 20

// trainModel trains on the non-blank lines of the corpus, fed as a stream in
// which "\n" separates documents (chunks of about 1 MiB, each a kn text).
//
// Why a stream and not one kn text per line: the metric scores the response
// after prompt + "\n". A model that never saw "\n" treats it as an unknown
// character, and since no context containing an unknown character was seen,
// Kneser-Ney backs off past it: the prompt would have no influence at all,
// and every line break inside a response would cost the unknown-character
// penalty (about 14 nats). Fed as a stream, the model learns "\n" as the
// document boundary and what tends to follow it.
func trainModel(ctx context.Context, path string, order int) (*kn.Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := kn.New(kn.Options{Order: order})
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<16), 64<<20)
	var chunk strings.Builder
	docs, lineNo := 0, 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		if chunk.Len() > 0 {
			chunk.WriteByte('\n')
		}
		chunk.WriteString(line)
		docs++
		if chunk.Len() >= chunkBytes {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			m.Add(chunk.String())
			chunk.Reset()
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading line %d: %w (lines may be at most 64 MiB)", lineNo+1, err)
	}
	if docs == 0 {
		return nil, fmt.Errorf("the corpus has no text: put one document per line")
	}
	if chunk.Len() > 0 {
		m.Add(chunk.String())
	}
	return m, nil
}
