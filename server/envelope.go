package server

import (
	"strconv"

	"tapline/commands"
	"tapline/jsonobj"
)

// JSON session envelopes. Written by hand: they are on the per-request path
// and their shape is fixed, so encoding/json would only add allocations.

func appendEnvelopeHead(b, id []byte) []byte {
	b = append(b, `{"id":`...)
	if len(id) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, id...)
	}
	return append(b, `,"error":""`...)
}

func appendEnvelopeOK(b, id []byte, kind commands.Kind, body []byte) []byte {
	switch kind {
	case commands.Binary:
		b = appendEnvelopeBinary(b, id, int64(len(body)))
		return append(b, body...)
	case commands.JSON:
		b = appendEnvelopeHead(b, id)
		b = append(b, `,"result":`...)
		body = trimTrailingSpace(body)
		if len(body) == 0 {
			body = []byte("null")
		}
		b = append(b, body...)
	default:
		b = appendEnvelopeHead(b, id)
		b = append(b, `,"result":`...)
		b = jsonobj.AppendString(b, trimOneNewline(body))
	}
	return append(b, "}\n"...)
}

func appendEnvelopeBinary(b, id []byte, n int64) []byte {
	b = appendEnvelopeHead(b, id)
	b = append(b, `,"binary":`...)
	b = strconv.AppendInt(b, n, 10)
	return append(b, "}\n"...)
}

func appendEnvelopeErr(b, id []byte, msg, code string) []byte {
	b = append(b, `{"id":`...)
	if len(id) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, id...)
	}
	b = append(b, `,"error":`...)
	b = jsonobj.AppendString(b, []byte(msg))
	b = append(b, `,"code":"`...)
	b = append(b, code...)
	b = append(b, `","status":`...)
	b = strconv.AppendInt(b, int64(commands.Status(code)), 10)
	return append(b, "}\n"...)
}

func trimOneNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

func trimTrailingSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
