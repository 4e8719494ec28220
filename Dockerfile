# The app image: one image, three roles (`studio api`, `studio worker`, `studio migrate`), plus
# the Gemini emulator. The build context is filtered by .dockerignore (no .venv, no .studio).
FROM python:3.11.14-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY kernel ./kernel
COPY clients ./clients
COPY studio ./studio
COPY api ./api
COPY activities ./activities
COPY workflows ./workflows
COPY db ./db
COPY gemini_emulator ./gemini_emulator
COPY web ./web
RUN pip install --no-cache-dir .
USER nobody
CMD ["studio", "--help"]
