package mongo

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Wire protocol constants (MongoDB Wire Protocol, "OP_MSG").
const (
	opCodeMsg       = 2013
	headerLen       = 16
	maxMessageLen   = 48 << 20 // maxMessageSizeBytes of MongoDB
	flagChecksum    = 1 << 0
	sectionBody     = 0
	sectionSequence = 1
)

// message is one wire protocol message, header fields decoded, the rest raw.
type message struct {
	requestID, responseTo, opCode int32
	body                          []byte // everything after the 16-byte header
}

func readMessage(r io.Reader) (*message, error) {
	var h [headerLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := int32(binary.LittleEndian.Uint32(h[0:]))
	if n < headerLen || n > maxMessageLen {
		return nil, fmt.Errorf("message length %d out of range", n)
	}
	m := &message{
		requestID:  int32(binary.LittleEndian.Uint32(h[4:])),
		responseTo: int32(binary.LittleEndian.Uint32(h[8:])),
		opCode:     int32(binary.LittleEndian.Uint32(h[12:])),
		body:       make([]byte, n-headerLen),
	}
	if _, err := io.ReadFull(r, m.body); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *message) bytes() []byte {
	b := make([]byte, headerLen, headerLen+len(m.body))
	binary.LittleEndian.PutUint32(b[0:], uint32(headerLen+len(m.body)))
	binary.LittleEndian.PutUint32(b[4:], uint32(m.requestID))
	binary.LittleEndian.PutUint32(b[8:], uint32(m.responseTo))
	binary.LittleEndian.PutUint32(b[12:], uint32(m.opCode))
	return append(b, m.body...)
}

// opMsg is a decoded OP_MSG: its command document and document sequences.
type opMsg struct {
	flags     uint32
	command   bson.Raw
	sequences []docSequence
}

type docSequence struct {
	identifier string
	docs       []bson.Raw
}

func parseOpMsg(body []byte) (*opMsg, error) {
	if len(body) < 4 {
		return nil, errors.New("OP_MSG too short")
	}
	m := &opMsg{flags: binary.LittleEndian.Uint32(body)}
	rest := body[4:]
	if m.flags&flagChecksum != 0 {
		if len(rest) < 4 {
			return nil, errors.New("OP_MSG checksum missing")
		}
		rest = rest[:len(rest)-4] // dropped: the proxy re-encodes without a checksum
	}
	for len(rest) > 0 {
		kind := rest[0]
		rest = rest[1:]
		switch kind {
		case sectionBody:
			doc, tail, err := readDoc(rest)
			if err != nil {
				return nil, fmt.Errorf("OP_MSG body: %w", err)
			}
			m.command, rest = doc, tail
		case sectionSequence:
			if len(rest) < 4 {
				return nil, errors.New("OP_MSG document sequence truncated")
			}
			size := int(binary.LittleEndian.Uint32(rest))
			if size < 5 || size > len(rest) {
				return nil, fmt.Errorf("OP_MSG document sequence size %d out of range", size)
			}
			seq, err := parseSequence(rest[4:size])
			if err != nil {
				return nil, err
			}
			m.sequences = append(m.sequences, seq)
			rest = rest[size:]
		default:
			return nil, fmt.Errorf("OP_MSG section kind %d unknown", kind)
		}
	}
	if m.command == nil {
		return nil, errors.New("OP_MSG without a body section")
	}
	return m, nil
}

func parseSequence(b []byte) (docSequence, error) {
	end := 0
	for end < len(b) && b[end] != 0 {
		end++
	}
	if end == len(b) {
		return docSequence{}, errors.New("OP_MSG document sequence identifier unterminated")
	}
	seq := docSequence{identifier: string(b[:end])}
	rest := b[end+1:]
	for len(rest) > 0 {
		doc, tail, err := readDoc(rest)
		if err != nil {
			return docSequence{}, fmt.Errorf("OP_MSG document sequence %q: %w", seq.identifier, err)
		}
		seq.docs = append(seq.docs, doc)
		rest = tail
	}
	return seq, nil
}

func readDoc(b []byte) (bson.Raw, []byte, error) {
	if len(b) < 5 {
		return nil, nil, errors.New("document truncated")
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n < 5 || n > len(b) {
		return nil, nil, fmt.Errorf("document length %d out of range", n)
	}
	doc := bson.Raw(b[:n])
	if err := doc.Validate(); err != nil {
		return nil, nil, err
	}
	return doc, b[n:], nil
}

// encode returns the OP_MSG body (flags and sections), without a checksum.
func (m *opMsg) encode() []byte {
	b := binary.LittleEndian.AppendUint32(nil, m.flags&^flagChecksum)
	b = append(b, sectionBody)
	b = append(b, m.command...)
	for _, s := range m.sequences {
		b = append(b, sectionSequence)
		at := len(b)
		b = append(b, 0, 0, 0, 0)
		b = append(b, s.identifier...)
		b = append(b, 0)
		for _, d := range s.docs {
			b = append(b, d...)
		}
		binary.LittleEndian.PutUint32(b[at:], uint32(len(b)-at))
	}
	return b
}

// commandName is the first key of a command document ("insert", "update", ...).
func commandName(cmd bson.Raw) string {
	elems, err := cmd.Elements()
	if err != nil || len(elems) == 0 {
		return ""
	}
	return elems[0].Key()
}
