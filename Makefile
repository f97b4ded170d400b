# Set-up and daily commands. `make demo` and `make test` work on a fresh clone:
# they create .venv, install torch (the CPU build where no NVIDIA GPU is
# present), build the compiled extension and run.

PYTHON      ?= python3
VENV        ?= .venv
BIN         := $(VENV)/bin
# torch to install: the CPU build by default; the default (CUDA) build when an
# NVIDIA driver answers. Override with e.g. `make TORCH_SPEC="torch==2.13.0" test`.
HAVE_GPU    := $(shell nvidia-smi -L >/dev/null 2>&1 && echo yes)
TORCH_SPEC  ?= $(if $(HAVE_GPU),torch,torch==2.13.0)
ORT_SPEC    ?= $(if $(HAVE_GPU),onnxruntime-gpu,onnxruntime)
RUNTIME_DEPS := numpy tqdm pillow opencv-python-headless onnx scikit-learn $(ORT_SPEC) imageio-ffmpeg
SERVE_DEPS   := fastapi "uvicorn[standard]" prometheus-client python-multipart
TEST_DEPS    := pytest hypothesis captum httpx schemathesis $(SERVE_DEPS)
EXT_SOURCES := $(shell find csrc -type f) CMakeLists.txt pyproject.toml
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: demo bench test test-cuda build clean help

help:
	@echo "make demo    run the main job: every shipped style on the sample photos (contact sheet + timings)"
	@echo "make test    run the test suite"
	@echo "make bench   run every benchmark suite, writing JSON under out/"
	@echo "make build   (re)build the compiled extension"
	@echo "make clean   remove build outputs (keeps .venv)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.deps: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet scikit-build-core pybind11 cmake ninja $(RUNTIME_DEPS) $(TEST_DEPS)
	touch $@

$(VENV)/.built: $(VENV)/.deps $(EXT_SOURCES)
	$(BIN)/python -m pip install --quiet --no-build-isolation --no-deps -e .
	touch $@

build: $(VENV)/.built

demo: build
	$(BIN)/pyfast demo --out out/demo

bench: build
	$(BIN)/pyfast bench kernels --json out/bench/kernels.json --markdown out/bench/kernels.md
	$(BIN)/pyfast bench inference --json out/bench/inference.json --markdown out/bench/inference.md
	$(BIN)/pyfast bench training --json out/bench/training.json --markdown out/bench/training.md
	$(BIN)/pyfast bench masked-conv --json out/bench/masked-conv.json --markdown out/bench/masked-conv.md
	$(BIN)/pyfast bench occlusion --json out/bench/occlusion.json --markdown out/bench/occlusion.md
	$(BIN)/pyfast bench gatys --json out/bench/gatys.json --markdown out/bench/gatys.md
	$(BIN)/pyfast bench serve --json out/bench/serve.json --markdown out/bench/serve.md

test: build
	$(BIN)/python -m pytest -q

test-cuda: build
	$(BIN)/python -m pytest -q -m cuda

clean:
	rm -rf build out $(VENV)/.built
