/*
 * sel_err.h - the S3 Select error codes, as one X-macro table.
 *
 * Each row is the S3 code and its class: SEL_EC_CLIENT errors are a bad
 * query or request (the caller maps them to -EINVAL), SEL_EC_DATA errors come
 * from the object or from evaluation (-EIO).  sel_err_set() fills the public
 * struct sel_error with the code, a formatted message and the position.
 */
#ifndef SEL_ERR_H
#define SEL_ERR_H

#include <stdarg.h>

#include "select.h"

#define SEL_EC_CLIENT 0
#define SEL_EC_DATA   1

#define SEL_ERROR_CODES(X)                                                     \
	X(ParseSelectFailure, SEL_EC_CLIENT)                                   \
	X(ExpressionTooLong, SEL_EC_CLIENT)                                    \
	X(OverMaxRecordSize, SEL_EC_DATA)                                      \
	X(ColumnTooLong, SEL_EC_DATA)                                          \
	X(OverMaxColumn, SEL_EC_DATA)                                          \
	X(MalformedXML, SEL_EC_CLIENT)                                         \
	X(MissingRequiredParameter, SEL_EC_CLIENT)                             \
	X(ObjectSerializationConflict, SEL_EC_CLIENT)                          \
	X(InvalidDataSource, SEL_EC_CLIENT)                                    \
	X(InvalidRequestParameter, SEL_EC_CLIENT)                              \
	X(InvalidCompressionFormat, SEL_EC_CLIENT)                             \
	X(InvalidFileHeaderInfo, SEL_EC_CLIENT)                                \
	X(InvalidJsonType, SEL_EC_CLIENT)                                      \
	X(InvalidQuoteFields, SEL_EC_CLIENT)                                   \
	X(NotImplemented, SEL_EC_CLIENT)                                       \
	X(CSVParsingError, SEL_EC_DATA)                                        \
	X(JSONParsingError, SEL_EC_DATA)                                       \
	X(ParquetParsingError, SEL_EC_DATA)                                    \
	X(InvalidTextEncoding, SEL_EC_DATA)                                    \
	X(TruncatedInput, SEL_EC_DATA)                                         \
	X(MissingHeaders, SEL_EC_CLIENT)                                       \
	X(MissingHeaderName, SEL_EC_CLIENT)                                    \
	X(AmbiguousFieldName, SEL_EC_CLIENT)                                   \
	X(InvalidColumnIndex, SEL_EC_CLIENT)                                   \
	X(InvalidTableAlias, SEL_EC_CLIENT)                                    \
	X(EvaluatorBindingDoesNotExist, SEL_EC_CLIENT)                         \
	X(LexerInvalidChar, SEL_EC_CLIENT)                                     \
	X(LexerInvalidOperator, SEL_EC_CLIENT)                                 \
	X(LexerInvalidLiteral, SEL_EC_CLIENT)                                  \
	X(LexerInvalidIONLiteral, SEL_EC_CLIENT)                               \
	X(ParseExpectedDatePart, SEL_EC_CLIENT)                                \
	X(ParseExpectedKeyword, SEL_EC_CLIENT)                                 \
	X(ParseExpectedTokenType, SEL_EC_CLIENT)                               \
	X(ParseExpected2TokenTypes, SEL_EC_CLIENT)                             \
	X(ParseExpectedNumber, SEL_EC_CLIENT)                                  \
	X(ParseExpectedRightParenBuiltinFunctionCall, SEL_EC_CLIENT)           \
	X(ParseExpectedTypeName, SEL_EC_CLIENT)                                \
	X(ParseExpectedWhenClause, SEL_EC_CLIENT)                              \
	X(ParseExpectedMember, SEL_EC_CLIENT)                                  \
	X(ParseExpectedExpression, SEL_EC_CLIENT)                              \
	X(ParseExpectedLeftParenAfterCast, SEL_EC_CLIENT)                      \
	X(ParseExpectedLeftParenValueConstructor, SEL_EC_CLIENT)               \
	X(ParseExpectedLeftParenBuiltinFunctionCall, SEL_EC_CLIENT)            \
	X(ParseExpectedArgumentDelimiter, SEL_EC_CLIENT)                       \
	X(ParseExpectedIdentForAlias, SEL_EC_CLIENT)                           \
	X(ParseUnsupportedToken, SEL_EC_CLIENT)                                \
	X(ParseUnsupportedCallWithStar, SEL_EC_CLIENT)                         \
	X(ParseUnexpectedOperator, SEL_EC_CLIENT)                              \
	X(ParseUnexpectedTerm, SEL_EC_CLIENT)                                  \
	X(ParseUnexpectedToken, SEL_EC_CLIENT)                                 \
	X(ParseUnexpectedKeyword, SEL_EC_CLIENT)                               \
	X(ParseInvalidPathComponent, SEL_EC_CLIENT)                            \
	X(ParseCastArity, SEL_EC_CLIENT)                                       \
	X(ParseEmptySelect, SEL_EC_CLIENT)                                     \
	X(ParseSelectMissingFrom, SEL_EC_CLIENT)                               \
	X(ParseCannotMixSqbAndWildcardInSelectList, SEL_EC_CLIENT)             \
	X(UnsupportedSqlStructure, SEL_EC_CLIENT)                              \
	X(UnsupportedSqlOperation, SEL_EC_CLIENT)                              \
	X(InvalidQuery, SEL_EC_CLIENT)                                         \
	X(InvalidDataType, SEL_EC_DATA)                                        \
	X(IncorrectSqlFunctionArgumentType, SEL_EC_DATA)                       \
	X(IllegalSqlFunctionArgument, SEL_EC_CLIENT)                           \
	X(IntegerOverflow, SEL_EC_DATA)                                        \
	X(MultipleDataSourcesUnsupported, SEL_EC_CLIENT)                       \
	X(LikeInvalidInputs, SEL_EC_DATA)                                      \
	X(BadTableName, SEL_EC_CLIENT)                                         \
	X(DataSourcePathUnsupported, SEL_EC_CLIENT)                            \
	X(CastFailed, SEL_EC_DATA)                                             \
	X(EvaluatorInvalidTimestampFormatPattern, SEL_EC_DATA)                 \
	X(EvaluatorInvalidTimestampFormatPatternSymbolForParsing, SEL_EC_DATA) \
	X(EvaluatorTimestampFormatPatternDuplicateFields, SEL_EC_DATA)         \
	X(EvaluatorTimestampFormatPatternHourClockAmPmMismatch, SEL_EC_DATA)   \
	X(EvaluatorUnterminatedTimestampFormatPatternToken, SEL_EC_DATA)       \
	X(EvaluatorInvalidTimestampFormatPatternToken, SEL_EC_DATA)            \
	X(EvaluatorInvalidTimestampFormatPatternSymbol, SEL_EC_DATA)           \
	X(InternalError, SEL_EC_DATA)

enum sel_ec {
#define SEL_EC_ENUM(name, cls) SEL_E_##name,
	SEL_ERROR_CODES(SEL_EC_ENUM)
#undef SEL_EC_ENUM
		SEL_E__COUNT
};

/* The S3 code string of ec ("CastFailed"); never NULL. */
const char *sel_err_name(enum sel_ec ec);

/* Fill err (may be NULL) with ec, the position (0 when unknown) and a
 * printf-formatted message.  Returns the errno class of ec: -EINVAL for a
 * client error, -EIO for a data error, so callers can `return sel_err_set(..)`.
 */
int sel_err_set(struct sel_error *err, enum sel_ec ec, int line, int col,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Errno class of ec, as sel_err_set() returns it. */
int sel_err_errno(enum sel_ec ec);

/* Errno class of the code already in err (by name); -EIO when unknown. */
int sel_err_class(const struct sel_error *err);

#endif
