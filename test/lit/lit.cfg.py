# lit configuration of the mtl compiler tests.
import os
import lit.formats

config.name = "mtl"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".toml"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = getattr(config, "mtl_obj_root", config.test_source_root)

config.environment["PATH"] = os.pathsep.join(
    [config.mtl_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", os.environ["PATH"])])
config.substitutions.append(("%mtlc", os.path.join(config.mtl_tools_dir, "mtlc")))
config.substitutions.append(("%mtl-opt", os.path.join(config.mtl_tools_dir, "mtl-opt")))
config.substitutions.append(("%examples", os.path.join(config.mtl_src_root, "examples")))
