package fakeprovider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"mime/multipart"
	"net/http"
	"testing"
	"time"
)

// submitter sends one batch of a single request with custom_id id to a
// dialect's batch endpoint and returns the status code.
type submitter func(ctx context.Context, srv *Server, id string) (int, error)

func anthropicSubmit(ctx context.Context, srv *Server, id string) (int, error) {
	body, _ := json.Marshal(map[string]any{"requests": []any{map[string]any{"custom_id": id, "params": map[string]any{
		"model": "m", "max_tokens": 5, "messages": []any{map[string]any{"role": "user", "content": "hi [[fault:malformed]]"}}}}}})
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/messages/batches", bytes.NewReader(body))
	req.Header.Set("x-api-key", "k")
	req.Header.Set("anthropic-version", AnthropicVersion)
	return do(req)
}

func openaiSubmit(ctx context.Context, srv *Server, id string) (int, error) {
	line, _ := json.Marshal(map[string]any{"custom_id": id, "method": "POST", "url": "/v1/chat/completions",
		"body": map[string]any{"model": "m", "messages": []any{map[string]any{"role": "user", "content": "hi"}}}})
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("purpose", "batch")
	fw, _ := mw.CreateFormFile("file", "in.jsonl")
	_, _ = fw.Write(line)
	_ = mw.Close()
	up, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/files", &form)
	up.Header.Set("Authorization", "Bearer k")
	up.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(up)
	if err != nil {
		return 0, err
	}
	var f struct{ ID string }
	err = json.NewDecoder(resp.Body).Decode(&f)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		return resp.StatusCode, errors.Join(err, errors.New("upload refused"))
	}
	body, _ := json.Marshal(map[string]any{"input_file_id": f.ID, "endpoint": "/v1/chat/completions", "completion_window": "24h"})
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/batches", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer k")
	return do(req)
}

func do(req *http.Request) (int, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestHoldBatchDropsOneSubmission: with HoldBatch = 2 the first
// submission is accepted, the second is held without an answer until its
// client gives up and is then dropped (not in Stats.Batches, no fault
// counted), and the third is accepted.
func TestHoldBatchDropsOneSubmission(t *testing.T) {
	for _, tc := range []struct {
		name   string
		submit submitter
	}{
		{"anthropic", anthropicSubmit},
		{"openai", openaiSubmit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := Start(t, Options{APIKey: "k", HoldBatch: 2})
			ctx := context.Background()
			if code, err := tc.submit(ctx, srv, "first"); err != nil || code != 200 {
				t.Fatalf("first submission: %d %v", code, err)
			}
			faults := srv.Stats().Faults[FaultMalformed]

			hctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() {
				_, err := tc.submit(hctx, srv, "held")
				done <- err
			}()
			deadline := time.Now().Add(10 * time.Second)
			for srv.Stats().HeldBatches == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the second submission was never held")
				}
				time.Sleep(5 * time.Millisecond)
			}
			select {
			case err := <-done:
				t.Fatalf("the held submission was answered: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("held submission ended with %v, want the client's cancellation", err)
			}

			if code, err := tc.submit(ctx, srv, "third"); err != nil || code != 200 {
				t.Fatalf("third submission: %d %v", code, err)
			}
			st := srv.Stats()
			if len(st.Batches) != 2 || st.Batches[0][0] != "first" || st.Batches[1][0] != "third" || st.HeldBatches != 1 {
				t.Errorf("accepted batches %v, held %d; want [first] [third] and 1 held", st.Batches, st.HeldBatches)
			}
			if got := st.Faults[FaultMalformed]; tc.name == "anthropic" && got != faults+1 {
				t.Errorf("malformed faults %d after the third batch, want %d: the held batch was answered", got, faults+1)
			}
		})
	}
}
