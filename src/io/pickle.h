// The subset of Python's pickle that torch.save() emits for state dicts and
// plain containers: a restricted reader and a protocol-2 writer. Torch-free:
// tensors appear as PickleTensor records (storage key + dtype + geometry);
// io/pt_file.h joins them with the storage records of the zip archive.
//
// Reader. A stack machine over these opcodes only (everything else is an
// input_error naming the opcode and its offset):
//   PROTO FRAME STOP MARK POP POP_MARK DUP
//   NONE NEWTRUE NEWFALSE BININT BININT1 BININT2 LONG1 LONG4(<= 8 bytes) BINFLOAT
//   BINUNICODE SHORT_BINUNICODE BINUNICODE8 SHORT_BINSTRING BINSTRING
//   EMPTY_DICT EMPTY_LIST EMPTY_TUPLE TUPLE TUPLE1 TUPLE2 TUPLE3
//   SETITEM SETITEMS APPEND APPENDS
//   BINPUT LONG_BINPUT MEMOIZE BINGET LONG_BINGET
//   GLOBAL STACK_GLOBAL REDUCE BUILD BINPERSID
// Nothing is ever executed: GLOBAL/STACK_GLOBAL look the name up in a fixed
// allowlist and refuse anything else at once (so `posix.system` fails at the
// GLOBAL, before the REDUCE that would call it); REDUCE only interprets the
// allowlisted callables:
//   collections.OrderedDict()                       -> empty dict
//   torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])
//   torch._utils._rebuild_parameter(tensor, requires_grad, hooks)
//   torch._utils._rebuild_parameter_with_state(tensor, requires_grad, hooks, state)
//   torch._tensor._rebuild_from_type_v2(func, torch.Tensor|torch.nn.parameter.Parameter, args, state)
//   torch.{Float,Half,BFloat16,Double,Long,Int,Short,Char,Byte,Bool}Storage
//     only inside a persistent id ('storage', <class>, key, location, numel)
// BUILD is accepted on dicts (OrderedDict attributes such as _metadata,
// ignored) and on tensors with an empty state.
//
// Writer. Protocol 2 as torch.save writes it, without memo entries:
// dicts as EMPTY_DICT MARK k v ... SETITEMS, lists as EMPTY_LIST MARK ...
// APPENDS, tuples as TUPLEn/TUPLE, str as BINUNICODE, int as BININT1/BININT2/
// BININT/LONG1, float as BINFLOAT, tensors as
//   GLOBAL torch._utils._rebuild_tensor_v2 (BINPERSID('storage', GLOBAL torch.<T>Storage,
//   key, 'cpu', numel), offset, size, stride, False, OrderedDict()) REDUCE
// which torch.load(weights_only=True) accepts in PyTorch 1.13 and 2.x.
// Caveat: PyTorch 1.13's weights_only unpickler has no BINFLOAT, so a pickle
// holding a Python float only loads there with weights_only=False (2.x is fine).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace seedforge {

// A tensor as the pickle describes it; the bytes live in storage record
// "data/<storage_key>" of the archive. Geometry is in elements.
struct PickleTensor {
  std::string storage_key;
  std::string storage_type;  // "FloatStorage", "HalfStorage", ... (see pickle.h header)
  std::string location;      // "cpu", "cuda:0", ... (informational)
  int64_t storage_numel = 0;
  int64_t storage_offset = 0;
  std::vector<int64_t> size, stride;
  bool requires_grad = false;
};

struct PickleValue {
  enum class Kind { kNone, kBool, kInt, kFloat, kString, kList, kTuple, kDict, kTensor };
  Kind kind = Kind::kNone;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0.0;
  std::string string;
  std::vector<PickleValue> items;                            // list, tuple
  std::vector<std::pair<PickleValue, PickleValue>> entries;  // dict, keys str or int
  PickleTensor tensor;
};

// Bytes per element of a storage type name ("FloatStorage" -> 4), or 0 when
// the type is not one we read.
size_t pickle_storage_element_size(const std::string& storage_type);

// Parses a pickle. `where` names the source in errors (e.g. "'m.pt' m/data.pkl").
PickleValue unpickle(const uint8_t* data, size_t size, const std::string& where);

// Serializes `root` (protocol 2). Throws runtime_error for a string that is
// not valid UTF-8, a dict key that is not str/int, or an unknown storage type.
std::string pickle_dumps(const PickleValue& root);

}  // namespace seedforge
