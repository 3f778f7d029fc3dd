package report

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

func TestJSONSafeTurnsNaNIntoNull(t *testing.T) {
	type inner struct {
		X float64 `json:"x"`
		Y float64 `json:"y,omitempty"`
	}
	v := struct {
		A float64          `json:"a"`
		B []float64        `json:"b"`
		C map[string]inner `json:"c"`
		D *inner           `json:"d"`
	}{math.NaN(), []float64{1, math.Inf(1)}, map[string]inner{"k": {X: math.Inf(-1)}}, nil}
	b, err := json.Marshal(jsonSafe(reflect.ValueOf(v)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"a":null,"b":[1,null],"c":{"k":{"x":null}},"d":null}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}
