package metrics

import "github.com/prometheus/client_golang/prometheus"

// File results: how an upload to POST /api/media/devices/{id}/files
// ended.
const (
	FileSuccess  = "success"   // stored on the device
	FileTooLarge = "too_large" // over MAX_UPLOAD_BYTES: cut, the partial file removed
	FileAborted  = "aborted"   // the client's body stopped (stalled, cut, or over UPLOAD_TIMEOUT)
	FileRefused  = "refused"   // the device refused the file (a directory there, no space, ...)
	FileError    = "error"     // adb or the device failed
)

// App results: how an install (POST /api/media/devices/{id}/apps) ended.
const (
	AppSuccess = "success" // the installer said Success
	AppFailure = "failure" // the installer said Failure [...]: not an installable APK
	AppError   = "error"   // the upload, adb or the installer failed otherwise
)

// Files count what the API drops onto devices:
// media_service_files_pushed_total{result},
// media_service_file_bytes_pushed_total and
// media_service_app_installs_total{result}. Every result's series exists
// from the start, at zero. It implements api.FileMetrics.
type Files struct {
	pushed   *prometheus.CounterVec
	bytes    prometheus.Counter
	installs *prometheus.CounterVec
}

// NewFiles returns the file and app series.
func NewFiles() *Files {
	f := &Files{
		pushed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "files_pushed_total",
			Help: "Files uploaded to devices through the API, by result: success, too_large (over MAX_UPLOAD_BYTES), aborted (the client's body stopped), refused (by the device), error (adb or the device failed)."},
			[]string{"result"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "file_bytes_pushed_total",
			Help: "Bytes of files and APKs sent to devices through the API, those of uploads that failed included."}),
		installs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "app_installs_total",
			Help: "APKs installed through the API, by result: success, failure (the installer refused the APK), error (the upload, adb or the installer failed otherwise)."},
			[]string{"result"}),
	}
	for _, r := range []string{FileSuccess, FileTooLarge, FileAborted, FileRefused, FileError} {
		f.pushed.WithLabelValues(r)
	}
	for _, r := range []string{AppSuccess, AppFailure, AppError} {
		f.installs.WithLabelValues(r)
	}
	return f
}

// FilePushed counts an upload that ended with result, having sent n
// bytes to the device.
func (f *Files) FilePushed(result string, n int64) {
	f.pushed.WithLabelValues(result).Inc()
	f.bytes.Add(float64(n))
}

// AppInstalled counts an install that ended with result, having sent n
// bytes of APK to the device.
func (f *Files) AppInstalled(result string, n int64) {
	f.installs.WithLabelValues(result).Inc()
	f.bytes.Add(float64(n))
}

// Collectors returns the series to register.
func (f *Files) Collectors() []prometheus.Collector {
	return []prometheus.Collector{f.pushed, f.bytes, f.installs}
}
