// Package sink writes rendered secret files to their destinations.
//
// A [Sink] receives all files rendered from one secret in a single Write
// call. Three sinks exist:
//
//   - [Disk] writes each file to its real destination. Every file is first
//     staged in a temporary file in the destination's own folder, written,
//     given its mode and owner and flushed with fsync. Only when every file
//     of the call is staged are the temporary files renamed over their
//     destinations, and each folder is then flushed with fsync. A file that
//     already has the same bytes, mode and owner is left alone.
//   - [Folder] writes the same way as Disk, but places each file under a
//     root folder at its whole configured path, for trying a configuration
//     without touching the real destinations.
//   - [Stream] writes the file contents to an [io.Writer] such as standard
//     output, optionally with a `==> DEST <==` header line before each file.
//
// [RemoveStaleTemp] deletes temporary files that a crash left behind.
//
// Errors name paths, user ids and group ids, and never contain file content.
package sink
