package webhdfs

import (
	"bytes"

	"github.com/waybill-data/waybill/adapters/avrofile"
	"github.com/waybill-data/waybill/routing"
)

// encodeFile encodes events (checked, in sequence order) as the data file name of
// group g, in memory: WebHDFS uploads a file in one request of known length.
func (s *Sink) encodeFile(route string, g *avrofile.Group, name string, events []*routing.Event) ([]byte, *avrofile.Manifest, error) {
	size := 4 << 10
	for _, ev := range events {
		size += len(ev.Data) + len(ev.ID) + len(ev.Key) + 32
	}
	var buf bytes.Buffer
	buf.Grow(size)
	spec := avrofile.FileSpec{Name: name, Route: route, SchemaID: g.Key.SchemaID, Wrapper: g.Wrapper, Codec: s.codec}
	m, err := avrofile.Encode(&buf, spec, events)
	if err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), m, nil
}
