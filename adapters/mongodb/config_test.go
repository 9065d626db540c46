package mongodb

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/waybill-data/waybill/routing"
)

func TestValidate(t *testing.T) {
	ok := Config{URI: "mongodb://localhost:27017/", Database: "events"}
	tests := []struct {
		name string
		cfg  func(c *Config)
		want []string // substrings, one per expected error, in order
	}{
		{"minimal", func(c *Config) {}, nil},
		{"everything set", func(c *Config) {
			c.URI = "mongodb://u:p@h1:1,h2:2/?replicaSet=rs0"
			c.ConnectTimeout, c.ServerSelectionTimeout, c.WriteTimeout, c.MaxPoolSize = time.Second, time.Second, time.Second, 4
			c.WriteConcern.Analytic.W, c.WriteConcern.Runtime.W = "2", "majority"
			c.Decimal = DecimalString
		}, nil},
		{"srv not resolved", func(c *Config) { c.URI = "mongodb+srv://cluster.invalid/" }, nil},
		{"missing", func(c *Config) { *c = Config{} }, []string{"sinks.m.uri: is required", "sinks.m.database: is required"}},
		{"scheme", func(c *Config) { c.URI = "http://u:secret@h/" }, []string{`sinks.m.uri: must start with mongodb:// or mongodb+srv://, got "http://u:xxxxx@h/"`}},
		{"unparsable", func(c *Config) { c.URI = "mongodb://u:secret@h:notaport/" }, []string{"sinks.m.uri: "}},
		{"database", func(c *Config) { c.Database = "a.b" }, []string{"sinks.m.database: \"a.b\" contains a character"}},
		{"database too long", func(c *Config) { c.Database = strings.Repeat("d", 64) }, []string{"longer than 63 bytes"}},
		{"negative timeouts", func(c *Config) { c.ConnectTimeout, c.WriteTimeout = -1, -time.Second }, []string{
			"sinks.m.connect_timeout: must not be negative", "sinks.m.write_timeout: must not be negative"}},
		{"w:0", func(c *Config) { c.WriteConcern.Runtime.W = "0" }, []string{"sinks.m.write_concern.runtime.w: must be \"majority\""}},
		{"w:-1", func(c *Config) { c.WriteConcern.Analytic.W = "-1" }, []string{"sinks.m.write_concern.analytic.w: must be"}},
		{"decimal", func(c *Config) { c.Decimal = "float" }, []string{`sinks.m.decimal: unknown decimal encoding "float"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.cfg(&c)
			errs := c.Validate("sinks.m")
			if len(errs) != len(tt.want) {
				t.Fatalf("Validate = %v, want %d error(s) %q", errs, len(tt.want), tt.want)
			}
			for i, err := range errs {
				if !strings.Contains(err.Error(), tt.want[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, err, tt.want[i])
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error %d leaks the password: %q", i, err)
				}
			}
		})
	}
}

func TestConfigFromYAML(t *testing.T) {
	const doc = `
uri: mongodb://app:s3cret@db1:27017,db2:27017/?replicaSet=rs0
database: events
server_selection_timeout: 3s
write_concern:
  analytic: {w: 2}
  runtime: {w: majority, journal: true}
`
	var c Config
	if err := yaml.Unmarshal([]byte(doc), &c); err != nil {
		t.Fatal(err)
	}
	if errs := c.Validate(""); len(errs) > 0 {
		t.Fatalf("Validate: %v", errs)
	}
	if c.ServerSelectionTimeout != 3*time.Second {
		t.Errorf("server_selection_timeout = %s", c.ServerSelectionTimeout)
	}
	got := c.String()
	for _, want := range []string{"mongodb://app:xxxxx@db1:27017,db2:27017/?replicaSet=rs0", "write_concern.analytic=w:2,j:true", "write_concern.runtime=w:majority,j:true", "decimal=decimal128"} {
		if !strings.Contains(got, want) {
			t.Errorf("String() = %s, want it to contain %s", got, want)
		}
	}
	if strings.Contains(got, "s3cret") || strings.Contains(fmt.Sprintf("%v %+v", c, c), "s3cret") {
		t.Errorf("the password leaks: %s", got)
	}
}

func TestWriteConcernDefaults(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name    string
		set     WriteConcerns
		class   routing.Class
		w       any
		journal *bool
	}{
		{"analytic default", WriteConcerns{}, routing.Analytic, "majority", &yes},
		{"runtime default", WriteConcerns{}, routing.Runtime, 1, nil},
		{"analytic numeric", WriteConcerns{Analytic: WriteConcern{W: "3"}}, routing.Analytic, 3, &yes},
		{"analytic no journal", WriteConcerns{Analytic: WriteConcern{Journal: &no}}, routing.Analytic, "majority", &no},
		{"runtime tag", WriteConcerns{Runtime: WriteConcern{W: "dc1"}}, routing.Runtime, "dc1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wc := Config{WriteConcern: tt.set}.writeConcern(tt.class)
			if wc.W != tt.w {
				t.Errorf("w = %#v, want %#v", wc.W, tt.w)
			}
			if (wc.Journal == nil) != (tt.journal == nil) || wc.Journal != nil && *wc.Journal != *tt.journal {
				t.Errorf("j = %v, want %v", wc.Journal, tt.journal)
			}
		})
	}
}

func TestRedactURI(t *testing.T) {
	tests := []struct{ in, want string }{
		{"mongodb://localhost:27017/", "mongodb://localhost:27017/"},
		{"mongodb://user@h/", "mongodb://user@h/"},
		{"mongodb://user:pa%40ss@h/db", "mongodb://user:xxxxx@h/db"},
		{"mongodb://user:p@ss@h1:1,h2:2/?tls=true", "mongodb://user:xxxxx@h1:1,h2:2/?tls=true"},
		{"mongodb+srv://u:p@cluster.example.com", "mongodb+srv://u:xxxxx@cluster.example.com"},
		{"mongodb://h/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:tok", "mongodb://h/?authMechanism=MONGODB-AWS&authMechanismProperties=xxxxx"},
		{"mongodb://h/?tlsCertificateKeyFilePassword=pw&w=1", "mongodb://h/?tlsCertificateKeyFilePassword=xxxxx&w=1"},
		{"not a uri", "not a uri"},
	}
	for _, tt := range tests {
		if got := RedactURI(tt.in); got != tt.want {
			t.Errorf("RedactURI(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	_, err := New(Config{URI: "mongodb://u:secret@h/", Database: ""}, nil)
	if err == nil || !strings.Contains(err.Error(), "database: is required") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("New = %v, want the database error without the password", err)
	}
}
