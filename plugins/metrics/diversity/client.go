package diversity

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// ClientOptions configures a Client for an OpenAI-compatible embeddings API.
type ClientOptions struct {
	// BaseURL is the API root including the version, e.g.
	// "http://127.0.0.1:8000/v1"; requests go to BaseURL + "/embeddings".
	BaseURL string
	// Model is sent as "model" and is part of the cache key.
	Model string
	// APIKey, if set, is sent in APIKeyHeader: as "Bearer <key>" when the
	// header is Authorization (the default), verbatim otherwise (e.g.
	// Azure's "api-key").
	APIKey       string
	APIKeyHeader string
	// Dimensions, if > 0, is sent as "dimensions" (for models that can
	// shorten their embeddings) and is part of the cache key.
	Dimensions int
	// BatchSize is the number of inputs per request, default 64.
	BatchSize int
	// Cache stores embeddings by hash of (model, dimensions, text); nil
	// means a new MemoryCache.
	Cache Cache
	// MaxAttempts bounds tries per request (default 6); 429 and 5xx
	// responses and transport errors are retried with exponential backoff,
	// honouring Retry-After.
	MaxAttempts int
	// InitialBackoff and MaxBackoff shape the backoff (defaults 500ms, 30s).
	InitialBackoff, MaxBackoff time.Duration
	// HTTPClient defaults to a client with a 120 s timeout.
	HTTPClient *http.Client
}

// Client embeds texts through an OpenAI-compatible /embeddings endpoint.
// It is safe for concurrent use.
type Client struct {
	opts     ClientOptions
	endpoint string
	http     *http.Client
	cache    Cache
}

// NewClient validates opts and returns a Client.
func NewClient(opts ClientOptions) (*Client, error) {
	if opts.BaseURL == "" {
		return nil, errors.New("diversity: embeddings client needs BaseURL, e.g. http://127.0.0.1:8000/v1")
	}
	if !strings.HasPrefix(opts.BaseURL, "http://") && !strings.HasPrefix(opts.BaseURL, "https://") {
		return nil, fmt.Errorf("diversity: embeddings BaseURL %q must start with http:// or https://", opts.BaseURL)
	}
	if opts.Model == "" {
		return nil, errors.New("diversity: embeddings client needs Model (the embedding model's name at the endpoint)")
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = 64
	}
	if opts.BatchSize < 0 || opts.Dimensions < 0 || opts.MaxAttempts < 0 {
		return nil, errors.New("diversity: embeddings BatchSize, Dimensions and MaxAttempts must not be negative")
	}
	if opts.MaxAttempts == 0 {
		opts.MaxAttempts = 6
	}
	if opts.InitialBackoff == 0 {
		opts.InitialBackoff = 500 * time.Millisecond
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.APIKeyHeader == "" {
		opts.APIKeyHeader = "Authorization"
	}
	c := &Client{opts: opts, endpoint: strings.TrimRight(opts.BaseURL, "/") + "/embeddings", http: opts.HTTPClient, cache: opts.Cache}
	if c.http == nil {
		c.http = &http.Client{Timeout: 120 * time.Second}
	}
	if c.cache == nil {
		c.cache = NewMemoryCache()
	}
	return c, nil
}

// Name returns the model name (with the dimensions if set).
func (c *Client) Name() string {
	if c.opts.Dimensions > 0 {
		return fmt.Sprintf("%s@%d", c.opts.Model, c.opts.Dimensions)
	}
	return c.opts.Model
}

// CacheKey is the cache key of text under the client's model: the hex
// SHA-256 of model, dimensions and text, separated by NUL bytes.
func (c *Client) CacheKey(text string) string {
	h := sha256.New()
	h.Write([]byte(c.opts.Model))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(c.opts.Dimensions)))
	h.Write([]byte{0})
	h.Write([]byte(text))
	return hex.EncodeToString(h.Sum(nil))
}

// Embed returns one embedding per text, from the cache where possible;
// distinct missing texts are sent in batches of BatchSize.
func (c *Client) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	keys := make([]string, len(texts))
	want := map[string][]int{} // key -> positions still missing
	var missing []string       // distinct texts to request, in first-seen order
	var missingKeys []string
	for i, t := range texts {
		keys[i] = c.CacheKey(t)
		if v, ok := c.cache.Get(keys[i]); ok {
			out[i] = v
			continue
		}
		if _, seen := want[keys[i]]; !seen {
			missing = append(missing, t)
			missingKeys = append(missingKeys, keys[i])
		}
		want[keys[i]] = append(want[keys[i]], i)
	}
	for lo := 0; lo < len(missing); lo += c.opts.BatchSize {
		hi := min(lo+c.opts.BatchSize, len(missing))
		vecs, err := c.request(ctx, missing[lo:hi])
		if err != nil {
			return nil, err
		}
		for j, v := range vecs {
			k := missingKeys[lo+j]
			if err := c.cache.Put(k, v); err != nil {
				return nil, fmt.Errorf("diversity: caching embedding: %w", err)
			}
			for _, i := range want[k] {
				out[i] = v
			}
		}
	}
	return out, nil
}

type embeddingRequest struct {
	Model      string   `json:"model"`
	Input      []string `json:"input"`
	Dimensions int      `json:"dimensions,omitempty"`
}

type embeddingResponse struct {
	Data []struct {
		Index     *int      `json:"index"`
		Embedding []float32 `json:"embedding"`
	} `json:"data"`
	Usage json.RawMessage `json:"usage"`
}

// APIError is a non-2xx answer of the embeddings endpoint.
type APIError struct {
	Status  int
	Message string // error.message of the body, or the raw body
	Type    string // error.type, if given
	Code    string // error.code, if given
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("embeddings endpoint answered HTTP %d", e.Status)
	if e.Type != "" || e.Code != "" {
		s += fmt.Sprintf(" (%s %s)", e.Type, e.Code)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Retryable reports whether the status is worth retrying (429 or 5xx).
func (e *APIError) Retryable() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// request sends one batch with retries and returns its embeddings in input
// order.
func (c *Client) request(ctx context.Context, inputs []string) ([][]float32, error) {
	body, err := json.Marshal(embeddingRequest{Model: c.opts.Model, Input: inputs, Dimensions: c.opts.Dimensions})
	if err != nil {
		return nil, err
	}
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = c.opts.InitialBackoff
	bo.MaxInterval = c.opts.MaxBackoff
	op := func() ([][]float32, error) { return c.attempt(ctx, body, len(inputs)) }
	vecs, err := backoff.Retry(ctx, op,
		backoff.WithBackOff(bo),
		backoff.WithMaxTries(uint(c.opts.MaxAttempts)),
		backoff.WithMaxElapsedTime(0))
	if err != nil {
		return nil, fmt.Errorf("diversity: POST %s (%d inputs): %w", c.endpoint, len(inputs), err)
	}
	return vecs, nil
}

// attempt makes one HTTP call. Errors wrapped in backoff.Permanent stop the
// retries; a RetryAfterError sets the next wait.
func (c *Client) attempt(ctx context.Context, body []byte, n int) ([][]float32, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, backoff.Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.opts.APIKey != "" {
		v := c.opts.APIKey
		if strings.EqualFold(c.opts.APIKeyHeader, "Authorization") {
			v = "Bearer " + v
		}
		req.Header.Set(c.opts.APIKeyHeader, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, backoff.Permanent(context.Cause(ctx))
		}
		return nil, err // transport errors are retried
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		apiErr := parseAPIError(resp.StatusCode, raw)
		if !apiErr.Retryable() {
			return nil, backoff.Permanent(apiErr)
		}
		if d, ok := retryAfter(resp.Header, time.Now()); ok {
			return nil, fmt.Errorf("%w; %w", apiErr, &backoff.RetryAfterError{Duration: d})
		}
		return nil, apiErr
	}
	vecs, err := decodeEmbeddings(raw, n)
	if err != nil {
		return nil, backoff.Permanent(err)
	}
	return vecs, nil
}

func parseAPIError(status int, raw []byte) *APIError {
	e := &APIError{Status: status}
	var body struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil && len(body.Error) > 0 {
		var obj struct {
			Message string          `json:"message"`
			Type    string          `json:"type"`
			Code    json.RawMessage `json:"code"`
		}
		var str string
		switch {
		case json.Unmarshal(body.Error, &obj) == nil && obj.Message != "":
			e.Message, e.Type = obj.Message, obj.Type
			if len(obj.Code) > 0 && string(obj.Code) != "null" {
				e.Code = strings.Trim(string(obj.Code), `"`)
			}
			return e
		case json.Unmarshal(body.Error, &str) == nil: // {"error": "text"}
			e.Message = str
			return e
		}
	}
	e.Message = strings.TrimSpace(string(raw))
	if len(e.Message) > 500 {
		e.Message = e.Message[:500] + "…"
	}
	return e
}

// retryAfter reads Retry-After (seconds or an HTTP date) and the
// retry-after-ms extension some OpenAI-compatible servers send.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if ms := h.Get("Retry-After-Ms"); ms != "" {
		if v, err := strconv.ParseFloat(ms, 64); err == nil && v >= 0 {
			return time.Duration(v * float64(time.Millisecond)), true
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		return time.Duration(secs * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

func decodeEmbeddings(raw []byte, n int) ([][]float32, error) {
	var r embeddingResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("embeddings response is not the expected JSON {\"data\":[{\"index\",\"embedding\":[floats]}]}: %w", err)
	}
	if len(r.Data) != n {
		return nil, fmt.Errorf("embeddings response has %d items for %d inputs", len(r.Data), n)
	}
	out := make([][]float32, n)
	for pos, d := range r.Data {
		i := pos // servers that omit index return items in input order
		if d.Index != nil {
			i = *d.Index
		}
		if i < 0 || i >= n {
			return nil, fmt.Errorf("embeddings response item %d has index %d outside 0..%d", pos, i, n-1)
		}
		if out[i] != nil {
			return nil, fmt.Errorf("embeddings response has index %d twice", i)
		}
		if len(d.Embedding) == 0 {
			return nil, fmt.Errorf("embeddings response item %d has an empty embedding (base64 encoding is not supported; send floats)", i)
		}
		if len(d.Embedding) != len(r.Data[0].Embedding) {
			return nil, fmt.Errorf("embeddings response item %d has %d dimensions, item 0 has %d", i, len(d.Embedding), len(r.Data[0].Embedding))
		}
		out[i] = d.Embedding
	}
	return out, nil
}

// Cache stores embeddings by key. Implementations must be safe for
// concurrent use and must not let callers' changes to returned slices
// affect later Gets.
type Cache interface {
	Get(key string) ([]float32, bool)
	Put(key string, v []float32) error
}

// MemoryCache is an unbounded in-process Cache.
type MemoryCache struct {
	mu sync.RWMutex
	m  map[string][]float32
}

// NewMemoryCache returns an empty MemoryCache.
func NewMemoryCache() *MemoryCache { return &MemoryCache{m: map[string][]float32{}} }

// Get returns a copy of the cached vector.
func (c *MemoryCache) Get(key string) ([]float32, bool) {
	c.mu.RLock()
	v, ok := c.m[key]
	c.mu.RUnlock()
	if !ok {
		return nil, false
	}
	return append([]float32(nil), v...), true
}

// Put stores a copy of v.
func (c *MemoryCache) Put(key string, v []float32) error {
	c.mu.Lock()
	c.m[key] = append([]float32(nil), v...)
	c.mu.Unlock()
	return nil
}

// Len returns the number of cached vectors.
func (c *MemoryCache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// DiskCache stores each vector as little-endian float32 in
// Dir/<key[:2]>/<key>.f32, written atomically (temp file + rename) so that
// concurrent runs sharing a directory never read half a file.
type DiskCache struct{ Dir string }

// NewDiskCache creates dir if needed.
func NewDiskCache(dir string) (*DiskCache, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("diversity: embedding cache directory: %w", err)
	}
	return &DiskCache{Dir: dir}, nil
}

func (c *DiskCache) path(key string) (string, error) {
	if len(key) < 3 || strings.ContainsAny(key, `/\.`) {
		return "", fmt.Errorf("diversity: cache key %q is not a hash", key)
	}
	return filepath.Join(c.Dir, key[:2], key+".f32"), nil
}

// Get reads the vector; unreadable or malformed files count as misses.
func (c *DiskCache) Get(key string) ([]float32, bool) {
	p, err := c.path(key)
	if err != nil {
		return nil, false
	}
	b, err := os.ReadFile(p)
	if err != nil || len(b) == 0 || len(b)%4 != 0 {
		return nil, false
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, true
}

// Put writes the vector.
func (c *DiskCache) Put(key string, v []float32) error {
	p, err := c.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), p)
}
