package notify

import (
	"errors"
	"net/http"
	"time"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// AWSCodes lists the AWS error codes of one service by outcome.
type AWSCodes struct {
	Permanent map[string]bool
	Retryable map[string]bool
	// RetryAfter, when set, reads a service-specific wait from the error
	// (e.g. a ConflictException's retryAfter); the Retry-After header is
	// always read.
	RetryAfter func(err error, now time.Time) time.Duration
}

// ClassifyAWS marks an error from an aws-sdk-go-v2 call as permanent or
// retryable (with the server's wait): by the service's error code, else by
// HTTP status (429, 408 and 5xx retryable, other 4xx permanent). Errors
// without either — network failures, timeouts, credentials that could not
// be fetched — stay retryable.
func ClassifyAWS(err error, codes AWSCodes) error {
	if err == nil {
		return nil
	}
	var invalid smithy.InvalidParamsError
	if errors.As(err, &invalid) {
		return Permanent(err)
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code := apiErr.ErrorCode()
		switch {
		case codes.Permanent[code]:
			return Permanent(err)
		case codes.Retryable[code]:
			return RetryAfter(err, awsRetryAfter(err, codes))
		}
	}
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) {
		switch status := respErr.HTTPStatusCode(); {
		case status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
			return RetryAfter(err, awsRetryAfter(err, codes))
		case status >= 400:
			return Permanent(err)
		}
	}
	return err
}

func awsRetryAfter(err error, codes AWSCodes) time.Duration {
	now := time.Now()
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) && respErr.Response != nil {
		if d := ParseRetryAfter(respErr.Response.Header.Get("Retry-After"), now); d > 0 {
			return d
		}
	}
	if codes.RetryAfter != nil {
		return codes.RetryAfter(err, now)
	}
	return 0
}
