package awsim

import (
	"errors"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ssmincidents/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"tocsin/notify"
)

// Error codes by class. Codes not listed fall back to the HTTP status.
var (
	retryableCodes = map[string]bool{
		"ThrottlingException": true, "ThrottledException": true, "TooManyRequestsException": true,
		"RequestLimitExceeded": true, "RequestThrottled": true, "RequestThrottledException": true,
		"InternalServerException": true, "InternalFailure": true, "InternalServerError": true,
		"ServiceUnavailable": true, "ServiceUnavailableException": true,
		"ConflictException":             true,
		"ServiceQuotaExceededException": true,
		// Refreshed credentials may succeed.
		"ExpiredToken": true, "ExpiredTokenException": true, "RequestExpired": true,
	}
	permanentCodes = map[string]bool{
		"AccessDeniedException": true, "AccessDenied": true,
		"ValidationException": true, "SerializationException": true,
		"ResourceNotFoundException":   true,
		"UnrecognizedClientException": true, "InvalidClientTokenId": true, "InvalidSignatureException": true,
		"IncompleteSignature": true, "IncompleteSignatureException": true, "SignatureDoesNotMatch": true,
		"MissingAuthenticationToken": true, "MissingAuthenticationTokenException": true,
		"UnknownOperationException": true, "OptInRequired": true,
	}
)

// classify marks err from the SDK as permanent or retryable (with the
// server's Retry-After, if any). Unclassified errors — network failures,
// timeouts, credentials that could not be fetched — stay retryable.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var invalid smithy.InvalidParamsError
	if errors.As(err, &invalid) {
		return notify.Permanent(err)
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code := apiErr.ErrorCode()
		switch {
		case permanentCodes[code]:
			return notify.Permanent(err)
		case retryableCodes[code]:
			return notify.RetryAfter(err, retryAfter(err))
		}
	}
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) {
		switch status := respErr.HTTPStatusCode(); {
		case status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
			return notify.RetryAfter(err, retryAfter(err))
		case status >= 400:
			return notify.Permanent(err)
		}
	}
	return err
}

// retryAfter is the wait the server asked for: a Retry-After header, or a
// ConflictException's retryAfter time.
func retryAfter(err error) time.Duration {
	now := time.Now()
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) && respErr.Response != nil {
		if d := notify.ParseRetryAfter(respErr.Response.Header.Get("Retry-After"), now); d > 0 {
			return d
		}
	}
	var conflict *types.ConflictException
	if errors.As(err, &conflict) && conflict.RetryAfter != nil && conflict.RetryAfter.After(now) {
		return conflict.RetryAfter.Sub(now)
	}
	return 0
}
