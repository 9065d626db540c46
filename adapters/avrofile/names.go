package avrofile

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Names of the files a file sink keeps in a target directory.
const (
	FilePrefix     = "part-"
	FileSuffix     = ".avro"
	ManifestSuffix = ".manifest.json"
	// TempPrefix starts every temporary name: hidden, so readers and scans skip it.
	TempPrefix = ".tmp-"
	seqDigits  = 20
)

// FileName is the name of the file holding the events with sequence numbers
// first..last of one schema id: part-{first:020d}-{last:020d}-s{schemaID}.avro. The
// zero padding makes names sort in sequence order.
func FileName(first, last uint64, schemaID int) string {
	return fmt.Sprintf("%s%0*d-%0*d-s%d%s", FilePrefix, seqDigits, first, seqDigits, last, schemaID, FileSuffix)
}

// ParseFileName parses a name made by FileName; ok is false for any other name.
func ParseFileName(name string) (first, last uint64, schemaID int, ok bool) {
	rest, found := strings.CutPrefix(name, FilePrefix)
	if !found {
		return 0, 0, 0, false
	}
	rest, found = strings.CutSuffix(rest, FileSuffix)
	if !found || len(rest) < 2*seqDigits+3 || rest[seqDigits] != '-' || rest[2*seqDigits+1] != '-' || rest[2*seqDigits+2] != 's' {
		return 0, 0, 0, false
	}
	f, err1 := strconv.ParseUint(rest[:seqDigits], 10, 64)
	l, err2 := strconv.ParseUint(rest[seqDigits+1:2*seqDigits+1], 10, 64)
	ids := rest[2*seqDigits+3:]
	id, err3 := strconv.Atoi(ids)
	if err1 != nil || err2 != nil || err3 != nil || f > l || id < 0 || strconv.Itoa(id) != ids {
		return 0, 0, 0, false
	}
	return f, l, id, true
}

// ManifestName is the name of the manifest of data file name.
func ManifestName(name string) string { return name + ManifestSuffix }

// TempName is a fresh temporary name for writing the file final (a data file or a
// manifest): ".tmp-<final>.<16 random hex digits>".
func TempName(final string) string { return TempPrefix + final + "." + RandomHex(8) }

// TempTarget returns the data file a temporary name was made for, by TempName of the
// data file or of its manifest; ok is false for other names.
func TempTarget(name string) (data string, ok bool) {
	tmp, found := strings.CutPrefix(name, TempPrefix)
	if !found {
		return "", false
	}
	i := strings.Index(tmp, FileSuffix)
	if i < 0 {
		return "", false
	}
	data = tmp[:i+len(FileSuffix)]
	if _, _, _, ok := ParseFileName(data); !ok {
		return "", false
	}
	return data, true
}

// RandomHex returns 2n random hex digits.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
