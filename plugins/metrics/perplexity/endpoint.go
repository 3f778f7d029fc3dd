package perplexity

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cenkalti/backoff/v5"
	"golang.org/x/sync/errgroup"

	"github.com/polyglot-teachers/polyglot/sdk"
)

// client scores texts through an OpenAI-compatible /completions endpoint.
type client struct {
	url            string
	model          string
	apiKey         string
	batch          int
	concurrency    int
	maxRetries     int
	promptLogprobs bool
	http           *http.Client
	// initialBackoff is the first wait after a failure without Retry-After.
	initialBackoff time.Duration
}

func newClient(s settings) *client {
	return &client{
		url:            s.baseURL + "/completions",
		model:          s.model,
		apiKey:         s.apiKey,
		batch:          s.batch,
		concurrency:    s.concurrency,
		maxRetries:     s.maxRetries,
		promptLogprobs: s.promptLogprobs,
		http:           &http.Client{Timeout: s.timeout},
		initialBackoff: 500 * time.Millisecond,
	}
}

// scoreBatch sends the examples in requests of c.batch prompts, up to
// c.concurrency at a time.
func (c *client) scoreBatch(ctx context.Context, batch []sdk.Example, sep string) ([]score, error) {
	out := make([]score, len(batch))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.concurrency)
	for lo := 0; lo < len(batch); lo += c.batch {
		hi := min(lo+c.batch, len(batch))
		g.Go(func() error {
			texts := make([]scoredText, hi-lo)
			for i, ex := range batch[lo:hi] {
				texts[i] = scoredText{
					text:     ex.Prompt + sep + ex.Response,
					boundary: utf8.RuneCountInString(ex.Prompt + sep),
				}
				texts[i].total = texts[i].boundary + utf8.RuneCountInString(ex.Response)
			}
			scores, err := c.request(gctx, texts)
			if err != nil {
				return fmt.Errorf("examples %s…%s: %w", batch[lo].ID, batch[hi-1].ID, err)
			}
			copy(out[lo:hi], scores)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// scoredText is one prompt sent to the endpoint. boundary is the number of
// code points of prompt + separator; total that of the whole text.
type scoredText struct {
	text            string
	boundary, total int
}

type completionRequest struct {
	Model string `json:"model"`
	// Prompt is a string for one text and a list for several: servers
	// that take only a string (Ollama) answer a list with HTTP 400.
	Prompt         any     `json:"prompt"`
	MaxTokens      int     `json:"max_tokens"`
	Temperature    float64 `json:"temperature"`
	Echo           bool    `json:"echo"`
	Logprobs       int     `json:"logprobs"`
	PromptLogprobs *int    `json:"prompt_logprobs,omitempty"`
}

type legacyLogprobs struct {
	Tokens        []string   `json:"tokens"`
	TokenLogprobs []*float64 `json:"token_logprobs"`
	TextOffset    []int      `json:"text_offset"`
}

type promptLogprob struct {
	Logprob      *float64 `json:"logprob"`
	DecodedToken *string  `json:"decoded_token"`
}

type completionChoice struct {
	Index          *int                       `json:"index"`
	Logprobs       *legacyLogprobs            `json:"logprobs"`
	PromptLogprobs []map[string]promptLogprob `json:"prompt_logprobs"`
	PromptTokenIDs []int                      `json:"prompt_token_ids"`
}

type completionResponse struct {
	Choices []completionChoice `json:"choices"`
}

// apiError is a non-2xx answer.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("HTTP %d: %s", e.status, e.msg)
	if strings.Contains(strings.ToLower(e.msg), "echo") {
		s += " (the server does not return prompt log-probabilities; use vLLM or llama-cpp-python's server; llama.cpp's llama-server does not support echo)"
	}
	return s
}

// request sends one batch, retrying 429, 5xx and transport errors.
func (c *client) request(ctx context.Context, texts []scoredText) ([]score, error) {
	req := completionRequest{Model: c.model, MaxTokens: 1, Echo: true, Logprobs: 0}
	if c.promptLogprobs {
		zero := 0
		req.PromptLogprobs = &zero
	}
	if len(texts) == 1 {
		req.Prompt = texts[0].text
	} else {
		list := make([]string, len(texts))
		for i, t := range texts {
			list[i] = t.text
		}
		req.Prompt = list
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = c.initialBackoff
	bo.MaxInterval = 30 * time.Second
	op := func() ([]score, error) { return c.attempt(ctx, body, texts) }
	out, err := backoff.Retry(ctx, op,
		backoff.WithBackOff(bo),
		backoff.WithMaxTries(uint(c.maxRetries)+1),
		backoff.WithMaxElapsedTime(0))
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", c.url, err)
	}
	return out, nil
}

func (c *client) attempt(ctx context.Context, body []byte, texts []scoredText) ([]score, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, backoff.Permanent(err)
	}
	hr.Header.Set("Content-Type", "application/json")
	if c.apiKey != "" {
		hr.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, backoff.Permanent(context.Cause(ctx))
		}
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 512<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		e := &apiError{status: resp.StatusCode, msg: errorMessage(raw)}
		if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500 {
			return nil, backoff.Permanent(e)
		}
		if d, ok := retryAfter(resp.Header, time.Now()); ok {
			return nil, fmt.Errorf("%w; %w", e, &backoff.RetryAfterError{Duration: d})
		}
		return nil, e
	}
	var cr completionResponse
	if err := json.Unmarshal(raw, &cr); err != nil {
		return nil, backoff.Permanent(fmt.Errorf("the answer is not a completions response: %w", err))
	}
	out, err := parseScores(cr, texts)
	if err != nil {
		return nil, backoff.Permanent(err)
	}
	return out, nil
}

func errorMessage(raw []byte) string {
	var body struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	if json.Unmarshal(raw, &body) == nil {
		var obj struct {
			Message string `json:"message"`
		}
		var str string
		switch {
		case json.Unmarshal(body.Error, &obj) == nil && obj.Message != "":
			return obj.Message
		case json.Unmarshal(body.Error, &str) == nil && str != "":
			return str
		case body.Message != "":
			return body.Message
		}
	}
	msg := strings.TrimSpace(string(raw))
	if len(msg) > 500 {
		msg = msg[:500] + "…"
	}
	return msg
}

// retryAfter reads Retry-After as seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
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

// parseScores maps choices to texts by index (servers may reorder them) and
// sums the log-probabilities of each text's response tokens.
func parseScores(cr completionResponse, texts []scoredText) ([]score, error) {
	if len(cr.Choices) != len(texts) {
		return nil, fmt.Errorf("the answer has %d choices for %d prompts", len(cr.Choices), len(texts))
	}
	out := make([]score, len(texts))
	seen := make([]bool, len(texts))
	for pos, ch := range cr.Choices {
		i := pos
		if ch.Index != nil {
			i = *ch.Index
		}
		if i < 0 || i >= len(texts) || seen[i] {
			return nil, fmt.Errorf("choice %d has index %d: expected each of 0..%d once", pos, i, len(texts)-1)
		}
		seen[i] = true
		var err error
		switch {
		case ch.Logprobs != nil && len(ch.Logprobs.Tokens) > 1:
			out[i], err = legacyScore(ch.Logprobs, texts[i])
		case len(ch.PromptLogprobs) > 0:
			out[i], err = promptLogprobsScore(ch, texts[i])
		default:
			err = errors.New("it has neither logprobs with the echoed prompt nor prompt_logprobs; the server must support echo with logprobs (vLLM does)")
		}
		if err != nil {
			return nil, fmt.Errorf("choice %d: %w", i, err)
		}
	}
	return out, nil
}

// inResponse reports whether a token spanning code points [start, end) holds
// a response character; tokens at or past total were generated, not echoed.
func inResponse(start, end int, t scoredText) bool {
	return start < t.total && end > t.boundary
}

func legacyScore(lp *legacyLogprobs, t scoredText) (score, error) {
	n := len(lp.Tokens)
	if len(lp.TokenLogprobs) != n || len(lp.TextOffset) != n {
		return score{}, fmt.Errorf("logprobs has %d tokens, %d token_logprobs and %d text_offset entries; they must match", n, len(lp.TokenLogprobs), len(lp.TextOffset))
	}
	last := lp.TextOffset[n-1] + utf8.RuneCountInString(lp.Tokens[n-1])
	if last < t.total {
		return score{}, fmt.Errorf("the logprobs cover %d of the text's %d characters: the server returned log-probabilities for generated tokens only (it must echo the prompt's)", last, t.total)
	}
	var sc score
	for k := range n {
		start := lp.TextOffset[k]
		end := last
		if k+1 < n {
			end = lp.TextOffset[k+1]
		}
		if !inResponse(start, end, t) {
			continue
		}
		if lp.TokenLogprobs[k] == nil {
			// Only the first token has no log-probability; it is part of
			// the response only when prompt and separator are empty.
			continue
		}
		sc.nll -= *lp.TokenLogprobs[k]
		sc.n++
	}
	return sc, nil
}

func promptLogprobsScore(ch completionChoice, t scoredText) (score, error) {
	entries := ch.PromptLogprobs
	var sc score
	// Offsets come from decoded token lengths counted back from the end:
	// the first entry is null, so its length is unknown, and a BOS token,
	// if any, decodes to nothing.
	end := t.total
	for k := len(entries) - 1; k >= 1; k-- {
		e := entries[k]
		var chosen *promptLogprob
		switch {
		case len(e) == 1:
			for _, v := range e {
				chosen = &v
			}
		case len(ch.PromptTokenIDs) == len(entries):
			if v, ok := e[strconv.Itoa(ch.PromptTokenIDs[k])]; ok {
				chosen = &v
			}
		}
		if chosen == nil || chosen.Logprob == nil || chosen.DecodedToken == nil {
			return score{}, fmt.Errorf("prompt_logprobs entry %d does not name the prompt's token with logprob and decoded_token; send prompt_logprobs = 0 (or return prompt_token_ids)", k)
		}
		start := end - utf8.RuneCountInString(*chosen.DecodedToken)
		if start < 0 {
			return score{}, fmt.Errorf("the decoded prompt tokens are longer than the text (%d characters)", t.total)
		}
		if inResponse(start, end, t) {
			sc.nll -= *chosen.Logprob
			sc.n++
		}
		end = start
	}
	return sc, nil
}

// probeText is what the capability probe scores: a prompt part and a
// response part, as a real example has.
const probeText = "Question: what colour is the sky on a clear day?\nAnswer: It is blue."

// capable is the error of a server that cannot return the log-probabilities
// of a prompt's tokens, naming the engines that can.
type incapable struct {
	url string
	err error
}

func (e *incapable) Error() string {
	return fmt.Sprintf("the server at %s cannot return the log-probabilities of a prompt's tokens (%v). The endpoint back end needs an engine that can: vLLM (prompt_logprobs, or echo with logprobs) or llama-cpp-python's server (echo with logprobs); Ollama and llama.cpp's llama-server return log-probabilities of generated tokens only. Serve the reference model with vLLM, or use backend = \"offline\"", e.url, e.err)
}

// probe asks the server to score one short text, as the metric will, and
// says whether it can: an *incapable error when it answers without prompt
// log-probabilities, another error when it cannot be asked at all.
func (c *client) probe(ctx context.Context) error {
	boundary := strings.Index(probeText, "Answer:")
	t := scoredText{text: probeText, boundary: utf8.RuneCountInString(probeText[:boundary]), total: utf8.RuneCountInString(probeText)}
	one := *c
	one.maxRetries = 0
	_, err := one.request(ctx, []scoredText{t})
	var ae *apiError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae) && ae.status >= 400 && ae.status < 500 && ae.status != http.StatusUnauthorized && ae.status != http.StatusForbidden && ae.status != http.StatusNotFound && ae.status != http.StatusTooManyRequests:
		return &incapable{url: c.url, err: err}
	case ae == nil && ctx.Err() == nil && isShapeError(err):
		return &incapable{url: c.url, err: err}
	}
	return err
}

// isShapeError reports whether err came from reading a 2xx answer (it has
// no prompt log-probabilities), not from reaching the server.
func isShapeError(err error) bool {
	msg := err.Error()
	for _, s := range []string{"neither logprobs", "generated tokens only", "prompt_logprobs entry", "choices for", "not a completions response"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
