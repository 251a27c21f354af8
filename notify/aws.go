package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
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

// AWSConfig says how an AWS client of tocsin's is built.
type AWSConfig struct {
	// Region, when set, wins over the SDK's own lookup (AWS_REGION, the
	// profile); RegionKey names the config key in the error when neither
	// gives one.
	Region, RegionKey string
	// HTTPClient sends every request; nil uses the SDK's buildable client
	// (the only one that honours AWS_CA_BUNDLE) with Timeout.
	HTTPClient *http.Client
	Timeout    time.Duration
	// Credentials replaces the SDK's default credential chain (tests).
	Credentials aws.CredentialsProvider
}

// LoadAWSConfig loads the SDK configuration every AWS client of tocsin's
// uses: no retries inside a call (the engine retries durably), the HTTP
// client and credentials given, and a region that must be found.
func LoadAWSConfig(ctx context.Context, c AWSConfig) (aws.Config, error) {
	var hc awsconfig.HTTPClient = awshttp.NewBuildableClient().WithTimeout(c.Timeout)
	if c.HTTPClient != nil {
		hc = c.HTTPClient
	}
	load := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithHTTPClient(hc),
		awsconfig.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
	}
	if c.Region != "" {
		load = append(load, awsconfig.WithRegion(c.Region))
	}
	if c.Credentials != nil {
		load = append(load, awsconfig.WithCredentialsProvider(c.Credentials))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New(c.RegionKey + ": required (set region, AWS_REGION or a profile's region)")
	}
	return cfg, nil
}
