package api

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
)

// The list of instances is the API's hottest answer (python-troveclient's `trove list`, the
// dashboards' polls, issue 17), and encoding/json's reflection over its 20 views took a
// fifth of the API's CPU. Its body is appended by hand instead, byte for byte what
// encoding/json writes (with HTML escaping off, as huma's JSON format), into a pooled
// buffer; TestListJSONIsEncodingJSONs checks the two agree. Views with the fields a list
// rarely has (a fault, replication, a configuration, a measured volume) are written by
// encoding/json, so that only the common shape has code of its own.

// jsonAppender is a body that appends its own JSON encoding.
type jsonAppender interface {
	appendJSON(dst []byte) []byte
}

// troveJSON is huma's JSON format, with bodies that append their own encoding written
// that way.
var troveJSON = huma.Format{
	Marshal: func(w io.Writer, v any) error {
		a, ok := v.(jsonAppender)
		if !ok {
			return huma.DefaultJSONFormat.Marshal(w, v)
		}
		bp := jsonBuffers.Get().(*[]byte)
		b := a.appendJSON((*bp)[:0])
		b = append(b, '\n') // as json.Encoder ends every value
		_, err := w.Write(b)
		if cap(b) <= maxPooledJSON {
			*bp = b
			jsonBuffers.Put(bp)
		}
		return err
	},
	Unmarshal: huma.DefaultJSONFormat.Unmarshal,
}

// maxPooledJSON is the largest buffer kept for the next answer: a full page (100
// instances) fits.
const maxPooledJSON = 256 << 10

var jsonBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// appendJSON writes the list as encoding/json would.
func (l InstanceListResponseBody) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"instances":`...)
	if l.Instances == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range l.Instances {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = l.Instances[i].appendJSON(dst)
		}
		dst = append(dst, ']')
	}
	if len(l.Links) > 0 {
		dst = append(dst, `,"links":`...)
		dst = appendLinks(dst, l.Links)
	}
	if len(l.InstancesLinks) > 0 {
		dst = append(dst, `,"instances_links":`...)
		dst = appendLinks(dst, l.InstancesLinks)
	}
	return append(dst, '}')
}

// appendJSON writes the view as encoding/json would.
func (v *InstanceView) appendJSON(dst []byte) []byte {
	if v.Volume.Used != nil || v.Fault != nil || v.ReplicaOf != nil || len(v.Replicas) > 0 ||
		v.ReplicationLag != nil || v.Configuration != nil {
		return appendEncodingJSON(dst, v)
	}
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, v.ID)
	dst = append(dst, `,"name":`...)
	dst = appendJSONString(dst, v.Name)
	dst = append(dst, `,"status":`...)
	dst = appendJSONString(dst, v.Status)
	dst = append(dst, `,"operating_status":`...)
	dst = appendJSONString(dst, v.OperatingStatus)
	dst = append(dst, `,"links":`...)
	dst = appendLinks(dst, v.Links)
	dst = append(dst, `,"flavor":{"id":`...)
	dst = appendJSONString(dst, v.Flavor.ID)
	dst = append(dst, `,"links":`...)
	dst = appendLinks(dst, v.Flavor.Links)
	dst = append(dst, `},"datastore":{"type":`...)
	dst = appendJSONString(dst, v.Datastore.Type)
	dst = append(dst, `,"version":`...)
	dst = appendJSONString(dst, v.Datastore.Version)
	dst = append(dst, `},"region":`...)
	dst = appendJSONString(dst, v.Region)
	dst = append(dst, `,"volume":{"size":`...)
	dst = strconv.AppendInt(dst, int64(v.Volume.Size), 10)
	dst = append(dst, '}')
	if len(v.IP) > 0 {
		dst = append(dst, `,"ip":`...)
		dst = appendStrings(dst, v.IP)
	}
	if len(v.Addresses) > 0 {
		dst = append(dst, `,"addresses":[`...)
		for i, a := range v.Addresses {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"address":`...)
			dst = appendJSONString(dst, a.Address)
			dst = append(dst, `,"type":`...)
			dst = appendJSONString(dst, a.Type)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	for _, f := range [...]struct{ key, value string }{
		{`,"created":`, v.Created}, {`,"updated":`, v.Updated}, {`,"service_status_updated":`, v.ServiceStatusUpdated},
	} {
		if f.value != "" {
			dst = append(dst, f.key...)
			dst = appendJSONString(dst, f.value)
		}
	}
	if a := v.Access; a != nil {
		dst = append(dst, `,"access":{"is_public":`...)
		dst = strconv.AppendBool(dst, a.IsPublic)
		dst = append(dst, `,"allowed_cidrs":`...)
		dst = appendStrings(dst, a.AllowedCIDRs)
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// appendEncodingJSON appends what encoding/json writes for v, HTML escaping off.
func appendEncodingJSON(dst []byte, v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Nothing in an InstanceView fails to encode; should it, the answer says so, as
		// huma's own would, instead of writing half a value.
		return append(dst, `"error marshaling response"`...)
	}
	return append(dst, bytes.TrimSuffix(b.Bytes(), []byte{'\n'})...)
}

func appendLinks(dst []byte, links []Link) []byte {
	if links == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, l := range links {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"href":`...)
		dst = appendJSONString(dst, l.Href)
		dst = append(dst, `,"rel":`...)
		dst = appendJSONString(dst, l.Rel)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

func appendStrings(dst []byte, ss []string) []byte {
	if ss == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, s)
	}
	return append(dst, ']')
}

const jsonHex = "0123456789abcdef"

// jsonSafe holds the bytes a JSON string carries as they are: ASCII but for control
// characters, quotes and backslashes (no HTML escaping).
var jsonSafe = func() (safe [256]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		safe[b] = b != '"' && b != '\\'
	}
	return safe
}()

// appendJSONString appends s quoted as encoding/json quotes a string with HTML escaping
// off: quotes, backslashes and control characters escaped, invalid UTF-8 as U+FFFD, and
// U+2028 and U+2029 escaped.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if jsonSafe[s[i]] {
			i++
			continue
		}
		if b := s[i]; b < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', jsonHex[b>>4], jsonHex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', jsonHex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
