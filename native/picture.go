package native

// Codec names of the decoders this package opens.
const (
	DecoderH264 = "h264"
	DecoderPNG  = "png"
	DecoderVP8  = "vp8"
)

// Picture is a decoded picture: a view of the decoder's frame, valid only
// during the callback that receives it.
type Picture struct {
	Width, Height int
	// Format is the picture's pixel format; PixelFormatNone for a layout
	// this package has no name for (AVFormat holds libavutil's value).
	Format   PixelFormat
	AVFormat int
	Planes   [4][]byte
	Strides  [4]int
	KeyFrame bool
}
