package server

import "io"

// Encrypted replies. Commands run exactly as in plaintext; their plain
// output items are then sealed as one message: VoIPmonitor's "aes:" CBC
// stream for legacy requests (sealLegacy), or tapline frames bound to the
// request's ref (sealHardened).

// seal runs the plain items through an encrypting writer: into one buffer
// when they are all bytes, or as one stream when the reply streams (then
// the encryption happens on the connection's writer goroutine).
func seal(items []outItem, enc func(io.Writer) io.WriteCloser, sealBytes func(dst, plain []byte) []byte) []outItem {
	if !hasStream(items) {
		var plain []byte
		if len(items) == 1 {
			plain = items[0].buf
		} else {
			plain = nil
			for _, it := range items {
				plain = append(plain, it.buf...)
			}
		}
		pb := getBuf()
		*pb = sealBytes((*pb)[:0], plain)
		for _, it := range items {
			putBuf(it.pooled)
		}
		return []outItem{{buf: *pb, pooled: pb}}
	}
	parts := append([]outItem(nil), items...)
	return []outItem{{size: -1, stream: func(dst io.Writer) error {
		w := enc(dst)
		for _, it := range parts {
			if err := writePart(w, it); err != nil {
				return err
			}
		}
		return w.Close()
	}}}
}

func hasStream(items []outItem) bool {
	for _, it := range items {
		if it.stream != nil {
			return true
		}
	}
	return false
}

func textItem(s string) outItem {
	pb := getBuf()
	*pb = append(*pb, s...)
	return outItem{buf: *pb, pooled: pb}
}
