package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestOracleALegacyCartTakesAnItemOverHTTP(t *testing.T) {
	store := NewStore(map[string][]byte{"old": []byte(`{"id":"old","items":null}`)})
	handler := NewHandler(store)
	for n := 1; n <= 2; n++ {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/items?cart=old&sku=tea&qty=1", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("request %d: status %d: %s", n, rec.Code, rec.Body.String())
		}
		var body map[string]int
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["count"] != n {
			t.Fatalf("request %d: body %s", n, rec.Body.String())
		}
	}
}
