package elasticsearch

import (
	"errors"
	"strings"
	"testing"

	"github.com/waybill-data/waybill/routing"
)

func TestClassification(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		retryable bool
	}{
		{"item 429", &ItemError{Status: 429, Type: "es_rejected_execution_exception"}, true},
		{"item 503", &ItemError{Status: 503, Type: "unavailable_shards_exception"}, true},
		{"item 400 mapping", &ItemError{Status: 400, Type: "mapper_parsing_exception"}, false},
		{"item 400 index name", &ItemError{Status: 400, Type: "invalid_index_name_exception"}, false},
		{"item 404 index", &ItemError{Status: 404, Type: "index_not_found_exception"}, false},
		{"request 429", &RequestError{Status: 429}, true},
		{"request 502", &RequestError{Status: 502}, true},
		{"request 401", &RequestError{Status: 401}, true},
		{"request 400", &RequestError{Status: 400}, false},
		{"transport", &TransportError{Op: "bulk", Err: errors.New("connection refused")}, true},
	}
	for _, tt := range tests {
		if got := routing.Retryable(tt.err); got != tt.retryable {
			t.Errorf("%s: Retryable = %v, want %v", tt.name, got, tt.retryable)
		}
	}
	e := &ItemError{Index: "i", ID: "x", Status: 400, Type: "mapper_parsing_exception", Reason: "failed to parse field [n]"}
	if !strings.Contains(e.Error(), "mapper_parsing_exception: failed to parse field [n]") {
		t.Errorf("item error text %q lacks type: reason", e.Error())
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings, one per expected error
	}{
		{"ok", Config{Addresses: []string{"http://localhost:9200"}}, nil},
		{"no address", Config{}, []string{"es.addresses: at least one"}},
		{"bad scheme", Config{Addresses: []string{"ftp://x"}}, []string{"es.addresses[0]: \"ftp://x\" must be an http"}},
		{"user in url", Config{Addresses: []string{"http://u:p@x:9200"}}, []string{"credentials in the URL"}},
		{"both auths", Config{Addresses: []string{"http://x"}, Username: "u", Password: "p", APIKey: "k"}, []string{"es.api_key: use either"}},
		{"password alone", Config{Addresses: []string{"http://x"}, Password: "p"}, []string{"es.password: a password needs"}},
		{"policies", Config{Addresses: []string{"http://x"}, Refresh: "now", Mappings: "magic", MaxBulkBytes: 10},
			[]string{"es.refresh: unknown", "es.mappings: unknown", "es.max_bulk_bytes: must be at least"}},
	}
	for _, tt := range tests {
		errs := tt.cfg.Validate("es")
		if len(errs) != len(tt.want) {
			t.Errorf("%s: got %v, want %d errors", tt.name, errs, len(tt.want))
			continue
		}
		for i, w := range tt.want {
			if !strings.Contains(errs[i].Error(), w) {
				t.Errorf("%s: error %q lacks %q", tt.name, errs[i], w)
			}
		}
	}
	c := Config{Addresses: []string{"http://x"}, Username: "u", Password: "hunter2", APIKey: "secretkey"}
	for _, s := range []string{c.String(), c.GoString()} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "secretkey") {
			t.Errorf("config text leaks a secret: %s", s)
		}
	}
}
