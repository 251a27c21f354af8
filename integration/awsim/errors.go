package awsim

import (
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ssmincidents/types"

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
// server's wait: Retry-After, or a ConflictException's retryAfter).
func classify(err error) error {
	return notify.ClassifyAWS(err, notify.AWSCodes{Permanent: permanentCodes, Retryable: retryableCodes, RetryAfter: conflictRetryAfter})
}

// conflictRetryAfter is a ConflictException's retryAfter time.
func conflictRetryAfter(err error, now time.Time) time.Duration {
	var conflict *types.ConflictException
	if errors.As(err, &conflict) && conflict.RetryAfter != nil && conflict.RetryAfter.After(now) {
		return conflict.RetryAfter.Sub(now)
	}
	return 0
}
