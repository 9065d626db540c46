package mongodb

import (
	"errors"
	"log/slog"
	"net/url"
	"strings"

	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

const redacted = "xxxxx"

// secretOptions are URI options whose values are secrets.
var secretOptions = map[string]bool{
	"authmechanismproperties":         true, // may carry AWS_SESSION_TOKEN
	"tlscertificatekeyfilepassword":   true,
	"sslclientcertificatekeypassword": true,
}

// RedactURI returns uri with the password of its user information and the values of
// secret options replaced by "xxxxx". It works on the text, so it also redacts URIs the
// driver would reject.
func RedactURI(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return uri
	}
	if user, _, at, ok := userInfo(rest); ok {
		rest = user + ":" + redacted + rest[at:]
	}
	if q := strings.Index(rest, "?"); q >= 0 {
		params := strings.Split(rest[q+1:], "&")
		for i, p := range params {
			name, _, _ := strings.Cut(p, "=")
			if secretOptions[strings.ToLower(name)] {
				params[i] = name + "=" + redacted
			}
		}
		rest = rest[:q+1] + strings.Join(params, "&")
	}
	return scheme + "://" + rest
}

// userInfo splits the user information off rest (a URI after "scheme://"): the user,
// the password and the offset of the '@' that ends them; ok is false without a
// password. User information ends at the last '@' before the path: a password may
// hold '@' only percent-encoded, but a careless one must not leak either.
func userInfo(rest string) (user, password string, at int, ok bool) {
	end := len(rest)
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		end = i
	}
	at = strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return "", "", 0, false
	}
	user, password, ok = strings.Cut(rest[:at], ":")
	return user, password, at, ok
}

// checkURI parses a mongodb:// URI with the driver's parser. mongodb+srv:// URIs are
// not parsed here: the driver resolves their DNS records while parsing, and Validate
// must not touch the network.
func checkURI(uri string) error {
	if strings.HasPrefix(uri, "mongodb+srv://") {
		return nil
	}
	if _, err := connstring.ParseAndValidate(uri); err != nil {
		return errors.New(scrub(err.Error(), uri))
	}
	return nil
}

// scrub removes uri's secrets from a message that may quote them.
func scrub(msg, uri string) string {
	msg = strings.ReplaceAll(msg, uri, RedactURI(uri))
	if _, rest, ok := strings.Cut(uri, "://"); ok {
		if _, p, _, ok := userInfo(rest); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, redacted)
			if plain, err := url.PathUnescape(p); err == nil && plain != "" {
				msg = strings.ReplaceAll(msg, plain, redacted)
			}
		}
	}
	return msg
}

// LogValue shows the configuration in logs as String does, credentials redacted.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// uriSetsTLS reports whether a URI's options configure TLS (any tls*/ssl* option).
func uriSetsTLS(uri string) bool {
	_, rest, ok := strings.Cut(uri, "?")
	if !ok {
		return false
	}
	for _, kv := range strings.Split(rest, "&") {
		k, _, _ := strings.Cut(kv, "=")
		k = strings.ToLower(k)
		if strings.HasPrefix(k, "tls") || strings.HasPrefix(k, "ssl") {
			return true
		}
	}
	return false
}
