package snssms

import (
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

// classify marks err from the SDK as permanent or retryable.
func classify(err error) error {
	return notify.ClassifyAWS(err, notify.AWSCodes{Permanent: permanentCodes, Retryable: retryableCodes})
}
