package snssms

import (
	"errors"
	"net/http"
	"time"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"tocsin/notify"
)

// Error codes of SNS's Query protocol (and AWS's common ones) by class.
// Codes not listed fall back to the HTTP status.
var (
	retryableCodes = map[string]bool{
		"Throttling": true, "Throttled": true, "ThrottlingException": true, "ThrottledException": true,
		"KMSThrottling": true, "RequestLimitExceeded": true, "RequestThrottled": true, "TooManyRequestsException": true,
		"InternalError": true, "InternalFailure": true, "InternalServerError": true,
		"ServiceUnavailable": true, "ServiceUnavailableException": true,
		// Refreshed credentials may succeed.
		"ExpiredToken": true, "ExpiredTokenException": true, "RequestExpired": true,
	}
	permanentCodes = map[string]bool{
		"InvalidParameter": true, "InvalidParameterValue": true, "ParameterValueInvalid": true,
		"ValidationError": true, "ValidationException": true, "MissingParameter": true,
		"AuthorizationError": true, "AccessDenied": true, "AccessDeniedException": true,
		"OptedOut": true, "EndpointDisabled": true, "NotFound": true, "InvalidSecurity": true,
		"KMSAccessDenied": true, "KMSDisabled": true, "KMSInvalidState": true, "KMSNotFound": true, "KMSOptInRequired": true,
		"InvalidClientTokenId": true, "UnrecognizedClientException": true, "SignatureDoesNotMatch": true,
		"IncompleteSignature": true, "MissingAuthenticationToken": true, "OptInRequired": true,
		"InvalidAction": true,
	}
)

// classify marks err from the SDK as permanent or retryable (with the
// server's Retry-After, if any). Unclassified errors — network failures,
// timeouts, credentials that could not be fetched — stay retryable.
func classify(err error) error {
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

// retryAfter is the wait the server asked for in a Retry-After header.
func retryAfter(err error) time.Duration {
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) && respErr.Response != nil {
		return notify.ParseRetryAfter(respErr.Response.Header.Get("Retry-After"), time.Now())
	}
	return 0
}
