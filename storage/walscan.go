package storage

import (
	"encoding/binary"
	"hash/crc32"
)

// scanWAL reads the records of one pebble write-ahead log for Repair,
// resynchronising after damage at the next valid chunk, byte by byte,
// rather than at the next 32 KiB block as pebble's record reader would:
// a block holds dozens of commits, and every intact one after the damage
// holds acknowledged entries.
//
// The chunk format (pebble's record package): in 32 KiB blocks, chunks
// of a header and a payload; the header is checksum (4 bytes, a masked
// CRC-32C of everything after the length: type, log number, synced
// offset, payload), length (2), type (1), then for the recyclable types
// 5–8 the log number (4), and for the WAL-sync types 9–12 also the synced
// offset (8). A record is one full chunk or a first, middles and a last.
// A block's tail too short for a header is zeros.
//
// A chunk counts only when its header fits the block, its log number is
// logNum (so a recycled file's old chunks are not read as this log's) and
// its checksum matches. damaged lists the offsets where unreadable bytes
// start that are followed by a valid chunk: damage in the middle of the
// log. Unreadable bytes at the end (a torn tail, zeros, a recycled file's
// old chunks) are not listed.
func scanWAL(b []byte, logNum uint32) (records [][]byte, damaged []int64) {
	var cur []byte
	inRecord := false
	badFrom := -1 // start of the unreadable run we are in, or -1
	for pos := 0; pos < len(b); {
		blockEnd := min((pos/walBlock+1)*walBlock, len(b))
		n, typ, payload := walChunk(b[pos:blockEnd], logNum)
		if n == 0 {
			if blockEnd-pos < walSyncHeader && allZero(b[pos:blockEnd]) {
				pos = blockEnd // a block's zeroed tail
				continue
			}
			if badFrom < 0 {
				badFrom = pos
			}
			pos++
			continue
		}
		if badFrom >= 0 {
			damaged = append(damaged, int64(badFrom))
			badFrom = -1
			if inRecord && (typ == chunkMiddle || typ == chunkLast) {
				// The damage cut a record in two: its start is gone, so
				// drop it and skip its rest.
				inRecord = false
				cur = nil
			}
		}
		switch typ {
		case chunkFull:
			inRecord = false
			records = append(records, payload)
		case chunkFirst:
			inRecord = true
			cur = append([]byte(nil), payload...)
		case chunkMiddle:
			if inRecord {
				cur = append(cur, payload...)
			}
		case chunkLast:
			if inRecord {
				records = append(records, append(cur, payload...))
				inRecord, cur = false, nil
			}
		}
		pos += n
	}
	return records, damaged
}

const (
	chunkFull = iota
	chunkFirst
	chunkMiddle
	chunkLast
)

const (
	legacyHeader     = 7
	recyclableHeader = 11
	walSyncHeader    = 19
)

// walChunk decodes the chunk at the start of b (the rest of a block). It
// returns the chunk's length with its header, its position type and its
// payload, or n == 0 when b does not start with a valid chunk of logNum.
func walChunk(b []byte, logNum uint32) (n, typ int, payload []byte) {
	if len(b) < legacyHeader {
		return 0, 0, nil
	}
	sum := binary.LittleEndian.Uint32(b)
	length := int(binary.LittleEndian.Uint16(b[4:]))
	t := int(b[6])
	var hs int
	switch {
	case t >= 1 && t <= 4:
		hs = legacyHeader
	case t >= 5 && t <= 8:
		hs = recyclableHeader
	case t >= 9 && t <= 12:
		hs = walSyncHeader
	default:
		return 0, 0, nil
	}
	if hs+length > len(b) {
		return 0, 0, nil
	}
	if hs > legacyHeader && binary.LittleEndian.Uint32(b[7:]) != logNum {
		return 0, 0, nil
	}
	c := crc32.Checksum(b[6:hs+length], castagnoli)
	if (c>>15|c<<17)+0xa282ead8 != sum { // pebble's masked CRC
		return 0, 0, nil
	}
	return hs + length, (t - 1) % 4, b[hs : hs+length]
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// walBlock is pebble's WAL block size: no chunk crosses a multiple of it.
const walBlock = 32 << 10
