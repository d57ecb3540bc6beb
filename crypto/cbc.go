package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
)

// Primitives shared by both framings. CBC is done here block by block on a
// cipher.Block, instead of with cipher.NewCBCEncrypter, because a BlockMode
// is a heap object per IV: the hardened framing needs a fresh IV per frame
// and Seal/Open must not allocate. Both are checked against crypto/cipher and
// openssl in the tests.

const blockSize = aes.BlockSize

// paddedLen is the PKCS#7 ciphertext length for n plaintext bytes: always at
// least one byte of padding, so always at least one block.
func paddedLen(n int) int { return n/blockSize*blockSize + blockSize }

// pad fills buf[n:paddedLen(n)] with PKCS#7 padding. buf must be that long.
func pad(buf []byte, n int) []byte {
	end := paddedLen(n)
	p := byte(end - n)
	for i := n; i < end; i++ {
		buf[i] = p
	}
	return buf[:end]
}

// unpad checks PKCS#7 padding in constant time. b is one or more whole
// blocks. It returns the plaintext length and 1 if the padding is valid;
// otherwise len(b) and 0. The time taken depends only on len(b): the
// hardened Open runs it on every frame and combines the result with the MAC
// check, so a frame's timing must not tell a padding failure. (A server
// never unpads a legacy request at all, see LegacyDecrypt.)
func unpad(b []byte) (n, ok int) {
	last := b[len(b)-blockSize:]
	p := int(last[blockSize-1])
	ok = subtle.ConstantTimeLessOrEq(1, p) & subtle.ConstantTimeLessOrEq(p, blockSize)
	for i := 0; i < blockSize; i++ {
		inPad := subtle.ConstantTimeLessOrEq(blockSize-i, p)
		same := subtle.ConstantTimeByteEq(last[i], byte(p))
		ok &= subtle.ConstantTimeSelect(inPad, same, 1)
	}
	p = subtle.ConstantTimeSelect(ok, p, 0)
	return len(b) - p, ok
}

// cbcEncrypt encrypts whole blocks of buf in place with CBC.
func cbcEncrypt(b cipher.Block, iv, buf []byte) {
	prev := iv
	for i := 0; i < len(buf); i += blockSize {
		blk := buf[i : i+blockSize]
		subtle.XORBytes(blk, blk, prev)
		b.Encrypt(blk, blk)
		prev = blk
	}
}

// cbcDecrypt decrypts whole blocks of buf in place. It walks backwards so
// each block's predecessor is still ciphertext when it is needed.
func cbcDecrypt(b cipher.Block, iv, buf []byte) {
	for end := len(buf); end > 0; end -= blockSize {
		start := end - blockSize
		blk := buf[start:end]
		b.Decrypt(blk, blk)
		if start == 0 {
			subtle.XORBytes(blk, blk, iv)
		} else {
			subtle.XORBytes(blk, blk, buf[start-blockSize:start])
		}
	}
}
