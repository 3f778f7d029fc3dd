package openai

import (
	"encoding/json"
	"strconv"

	"github.com/polyglot-teachers/polyglot/plugins/teachers/internal/wire"
)

// AppendJSON writes the request without reflection (see wire.AppendJSON);
// TestAppendJSONMatchesEncodingJSON holds it to encoding/json's output.
func (r *chatRequest) AppendJSON(b []byte) ([]byte, error) {
	var err error
	b = append(b, `{"model":`...)
	b = wire.AppendString(b, r.Model)
	b = append(b, `,"messages":[`...)
	for i, m := range r.Messages {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"role":`...)
		b = wire.AppendString(b, m.Role)
		b = append(b, `,"content":`...)
		b = wire.AppendString(b, m.Content)
		b = append(b, '}')
	}
	b = append(b, ']')
	if r.Temperature != nil {
		b = append(b, `,"temperature":`...)
		if b, err = wire.AppendFloat(b, *r.Temperature); err != nil {
			return b, err
		}
	}
	if r.TopP != nil {
		b = append(b, `,"top_p":`...)
		if b, err = wire.AppendFloat(b, *r.TopP); err != nil {
			return b, err
		}
	}
	if r.TopK != nil {
		b = append(b, `,"top_k":`...)
		b = strconv.AppendInt(b, int64(*r.TopK), 10)
	}
	if r.MaxTokens != 0 {
		b = append(b, `,"max_tokens":`...)
		b = strconv.AppendInt(b, int64(r.MaxTokens), 10)
	}
	if r.MaxCompletionTokens != 0 {
		b = append(b, `,"max_completion_tokens":`...)
		b = strconv.AppendInt(b, int64(r.MaxCompletionTokens), 10)
	}
	if r.Seed != nil {
		b = append(b, `,"seed":`...)
		b = strconv.AppendInt(b, *r.Seed, 10)
	}
	if len(r.Stop) > 0 {
		b = append(b, `,"stop":[`...)
		for i, s := range r.Stop {
			if i > 0 {
				b = append(b, ',')
			}
			b = wire.AppendString(b, s)
		}
		b = append(b, ']')
	}
	if r.ResponseFormat != nil {
		rf, err := json.Marshal(r.ResponseFormat)
		if err != nil {
			return b, err
		}
		b = append(b, `,"response_format":`...)
		b = append(b, rf...)
	}
	return append(b, '}', '\n'), nil
}
