"""The small exception tree every layer raises; the REST app maps it to HTTP in one place."""

from __future__ import annotations


class AssistantError(Exception):
    """Base of every expected failure. ``code`` is stable and machine-readable."""

    code = "assistant_error"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(AssistantError):
    code = "bad_request"
    status = 400


class InvalidQuestion(BadRequest):
    """The question cannot be asked as given (checked once, by ``assistant.schema.check_question``)."""

    code = "invalid_question"
    status = 422


class EmptyQuestion(InvalidQuestion):
    code = "empty_question"


class QuestionTooLong(InvalidQuestion):
    code = "question_too_long"


class IndexNotReady(AssistantError):
    """Nothing is indexed yet."""

    code = "index_empty"
    status = 409


class StoreUnavailable(AssistantError):
    """The Chroma server cannot be reached."""

    code = "chroma_unavailable"
    status = 503


class EmbedderUnavailable(AssistantError):
    """The embedding model failed, or the embeddings server cannot be reached."""

    code = "embedder_unavailable"
    status = 503


class LLMUnavailable(AssistantError):
    """The LLM cannot be loaded or reached (missing/corrupt model file, server down, timeout)."""

    code = "llm_unavailable"
    status = 503


class BadDocument(AssistantError):
    """A file could not be read as a document (corrupt, binary, empty, too large)."""

    code = "bad_document"
    status = 422


class UnsupportedFormat(BadDocument):
    code = "unsupported_format"
    status = 415


class DocumentTooLarge(BadDocument):
    code = "document_too_large"
    status = 413


class DocumentNotFound(AssistantError):
    code = "document_not_found"
    status = 404


class InvalidRange(BadRequest):
    """A slice of a document that is not a valid range (negative, ``end < start``, bad ``context``)."""

    code = "invalid_range"
    status = 422


class RangeOutOfBounds(InvalidRange):
    """A slice that ends past the end of the document's text."""

    code = "range_out_of_bounds"


class AnswerNotFound(AssistantError):
    """Feedback names an answer id this server does not remember (unknown, or too old)."""

    code = "answer_not_found"
    status = 404


class PassageNotFound(AssistantError):
    """Feedback names a "right passage" that is not in the indexed documents."""

    code = "passage_not_found"
    status = 422
