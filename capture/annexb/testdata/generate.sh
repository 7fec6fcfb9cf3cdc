#!/bin/sh
# Regenerates the H.264 test streams with Debian's ffmpeg 5.1 (libx264 0.164).
# The expected values in ../realstream_test.go were read from these files with
# ffprobe (-show_streams, -show_packets) and the trace_headers bitstream
# filter; regenerating with another x264 changes the bytes, so re-verify them.
set -eu
cd "$(dirname "$0")"
ff() { ffmpeg -hide_banner -loglevel error -y -f lavfi "$@"; }
# Constrained Baseline, pic_order_cnt_type 2, no AUD (like screenrecord).
ff -i testsrc=size=320x240:rate=30 -frames:v 30 -c:v libx264 -pix_fmt yuv420p \
	-profile:v baseline -bf 0 -g 10 -crf 30 -f h264 baseline_320x240.h264
# Main, four slices per picture, access unit delimiters.
ff -i testsrc=size=320x240:rate=30 -frames:v 30 -c:v libx264 -pix_fmt yuv420p \
	-profile:v main -bf 0 -g 10 -crf 30 -x264-params slices=4:aud=1 \
	-f h264 main_slices4_aud_320x240.h264
# High, B-frames (pic_order_cnt_type 0), width cropped (1376 -> 1366).
ff -i testsrc=size=1366x768:rate=30 -frames:v 8 -c:v libx264 -pix_fmt yuv420p \
	-profile:v high -bf 2 -g 4 -crf 40 -f h264 high_1366x768_bframes.h264
# High, MBAFF (frame_mbs_only_flag 0), height cropped (192 -> 180).
ff -i testsrc=size=320x180:rate=25 -frames:v 10 -c:v libx264 -pix_fmt yuv420p \
	-profile:v high -bf 0 -g 5 -crf 35 -x264-params interlaced=1 \
	-f h264 high_interlaced_320x180.h264
# High 4:4:4 Predictive, odd size (crop unit 1).
ff -i testsrc=size=321x241:rate=30 -frames:v 6 -c:v libx264 -pix_fmt yuv444p \
	-bf 0 -g 3 -crf 35 -f h264 high444_321x241.h264
# High 4:2:2, 10-bit, odd height (crop units 2x1).
ff -i testsrc=size=322x241:rate=30 -frames:v 6 -c:v libx264 -pix_fmt yuv422p10le \
	-bf 0 -g 3 -crf 35 -x264-params cqm=jvt -f h264 high422p10_322x241.h264
# Portrait phone screen, Constrained Baseline level 3.1, zerolatency: sliced
# threads, so two slices per picture (one per thread).
ff -i testsrc=size=720x1280:rate=30 -frames:v 20 -c:v libx264 -threads 2 -pix_fmt yuv420p \
	-profile:v baseline -tune zerolatency -bf 0 -g 60 -crf 32 \
	-f h264 portrait_720x1280.h264
