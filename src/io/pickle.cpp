#include "io/pickle.h"

#include <cstring>
#include <memory>
#include <unordered_map>

#include "common/error.h"
#include "io/utf8.h"

namespace seedforge {

namespace {

// Opcodes (Python's Lib/pickle.py names).
enum Op : uint8_t {
  MARK = '(', STOP = '.', POP = '0', POP_MARK = '1', DUP = '2', BINFLOAT = 'G', BININT = 'J',
  BININT1 = 'K', BININT2 = 'M', NONE = 'N', BINPERSID = 'Q', REDUCE = 'R', BINSTRING = 'T',
  SHORT_BINSTRING = 'U', BINUNICODE = 'X', APPEND = 'a', BUILD = 'b', GLOBAL = 'c', APPENDS = 'e',
  BINGET = 'h', LONG_BINGET = 'j', EMPTY_LIST = ']', BINPUT = 'q', LONG_BINPUT = 'r', SETITEM = 's',
  TUPLE = 't', EMPTY_TUPLE = ')', SETITEMS = 'u', EMPTY_DICT = '}', PROTO = 0x80, NEWOBJ = 0x81,
  TUPLE1 = 0x85, TUPLE2 = 0x86, TUPLE3 = 0x87, NEWTRUE = 0x88, NEWFALSE = 0x89, LONG1 = 0x8a,
  LONG4 = 0x8b, SHORT_BINUNICODE = 0x8c, BINUNICODE8 = 0x8d, STACK_GLOBAL = 0x93, MEMOIZE = 0x94,
  FRAME = 0x95,
};

constexpr int kMaxDepth = 512;

struct StorageType {
  const char* name;
  size_t element_size;
};
constexpr StorageType kStorageTypes[] = {
    {"FloatStorage", 4}, {"HalfStorage", 2},  {"BFloat16Storage", 2}, {"DoubleStorage", 8},
    {"LongStorage", 8},  {"IntStorage", 4},   {"ShortStorage", 2},    {"CharStorage", 1},
    {"ByteStorage", 1},  {"BoolStorage", 1},
};

// What a GLOBAL may name. Anything else is refused when it is read.
enum class Callable {
  kOrderedDict, kRebuildTensorV2, kRebuildParameter, kRebuildParameterWithState, kRebuildFromTypeV2,
  kTensorClass, kParameterClass, kStorageClass,
};

bool lookup_global(const std::string& module, const std::string& name, Callable* out) {
  const std::string full = module + "." + name;
  if (full == "collections.OrderedDict") *out = Callable::kOrderedDict;
  else if (full == "torch._utils._rebuild_tensor_v2") *out = Callable::kRebuildTensorV2;
  else if (full == "torch._utils._rebuild_parameter") *out = Callable::kRebuildParameter;
  else if (full == "torch._utils._rebuild_parameter_with_state") *out = Callable::kRebuildParameterWithState;
  else if (full == "torch._tensor._rebuild_from_type_v2") *out = Callable::kRebuildFromTypeV2;
  else if (full == "torch.Tensor") *out = Callable::kTensorClass;
  else if (full == "torch.nn.parameter.Parameter") *out = Callable::kParameterClass;
  else if (module == "torch" && pickle_storage_element_size(name) != 0) *out = Callable::kStorageClass;
  else return false;
  return true;
}

// Reader objects: shared so that memo entries alias the containers that later
// SETITEMS/APPENDS fill, as in Python.
struct Node;
using NodePtr = std::shared_ptr<Node>;
struct Node {
  enum class Kind { kNone, kBool, kInt, kFloat, kString, kList, kTuple, kDict, kTensor, kGlobal, kStorage };
  Kind kind = Kind::kNone;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0.0;
  std::string string;  // str value, or the global's "module.name"
  Callable callable = Callable::kOrderedDict;
  std::vector<NodePtr> items;
  std::vector<std::pair<NodePtr, NodePtr>> entries;
  PickleTensor tensor;  // kTensor, and the storage fields for kStorage
};

const char* kind_name(Node::Kind k) {
  switch (k) {
    case Node::Kind::kNone: return "None";
    case Node::Kind::kBool: return "bool";
    case Node::Kind::kInt: return "int";
    case Node::Kind::kFloat: return "float";
    case Node::Kind::kString: return "str";
    case Node::Kind::kList: return "list";
    case Node::Kind::kTuple: return "tuple";
    case Node::Kind::kDict: return "dict";
    case Node::Kind::kTensor: return "tensor";
    case Node::Kind::kGlobal: return "global";
    case Node::Kind::kStorage: return "storage";
  }
  return "?";
}

NodePtr make(Node::Kind kind) {
  auto n = std::make_shared<Node>();
  n->kind = kind;
  return n;
}

class Unpickler {
 public:
  Unpickler(const uint8_t* data, size_t size, const std::string& where) : p_(data), size_(size), where_(where) {}
  // A pickle can make a list or dict contain itself (through the memo); the
  // shared_ptr cycle would leak, so empty every mutable container at the end.
  ~Unpickler() {
    for (const auto& weak : containers_) {
      if (NodePtr n = weak.lock()) {
        n->items.clear();
        n->entries.clear();
      }
    }
  }

  NodePtr run() {
    while (true) {
      op_pos_ = pos_;
      const uint8_t op = u8();
      switch (op) {
        case PROTO: {
          const uint8_t v = u8();
          if (v > 5) fail("unsupported pickle protocol ", int{v});
          break;
        }
        case FRAME: take(8); break;  // framing is only a read-ahead hint
        case STOP: {
          if (stack_.empty()) fail("STOP with an empty stack");
          return stack_.back();
        }
        case MARK: marks_.push_back(stack_.size()); break;
        case POP: pop(); break;
        case POP_MARK: pop_mark(); break;
        case DUP: push(top()); break;
        case NONE: push(make(Node::Kind::kNone)); break;
        case NEWTRUE: push_bool(true); break;
        case NEWFALSE: push_bool(false); break;
        case BININT: push_int(static_cast<int32_t>(le(4))); break;
        case BININT1: push_int(u8()); break;
        case BININT2: push_int(static_cast<int64_t>(le(2))); break;
        case LONG1: push_long(u8()); break;
        case LONG4: push_long(le(4)); break;
        case BINFLOAT: {
          const uint8_t* b = take(8);
          uint64_t bits = 0;
          for (int i = 0; i < 8; ++i) bits = (bits << 8) | b[i];  // big-endian
          auto n = make(Node::Kind::kFloat);
          std::memcpy(&n->real, &bits, 8);
          push(n);
          break;
        }
        case BINUNICODE: push_string(le(4), true); break;
        case SHORT_BINUNICODE: push_string(u8(), true); break;
        case BINUNICODE8: push_string(le(8), true); break;
        case SHORT_BINSTRING: push_string(u8(), false); break;
        case BINSTRING: push_string(le(4), false); break;
        case EMPTY_DICT: push(container(Node::Kind::kDict)); break;
        case EMPTY_LIST: push(container(Node::Kind::kList)); break;
        case EMPTY_TUPLE: push(make(Node::Kind::kTuple)); break;
        case TUPLE: {
          auto n = make(Node::Kind::kTuple);
          n->items = pop_mark();
          push(n);
          break;
        }
        case TUPLE1:
        case TUPLE2:
        case TUPLE3: {
          const size_t k = op - TUPLE1 + 1;
          if (stack_.size() < k + floor()) fail("stack underflow in TUPLE", k);
          auto n = make(Node::Kind::kTuple);
          n->items.assign(stack_.end() - static_cast<std::ptrdiff_t>(k), stack_.end());
          stack_.resize(stack_.size() - k);
          push(n);
          break;
        }
        case SETITEM: {
          NodePtr value = pop();
          NodePtr key = pop();
          set_item(top(), key, value);
          break;
        }
        case SETITEMS: {
          std::vector<NodePtr> kv = pop_mark();
          if (kv.size() % 2 != 0) fail("SETITEMS with an odd number of items");
          NodePtr dict = top();
          for (size_t i = 0; i < kv.size(); i += 2) set_item(dict, kv[i], kv[i + 1]);
          break;
        }
        case APPEND: {
          NodePtr value = pop();
          list_target()->items.push_back(value);
          break;
        }
        case APPENDS: {
          std::vector<NodePtr> values = pop_mark();
          NodePtr list = list_target();
          list->items.insert(list->items.end(), values.begin(), values.end());
          break;
        }
        case BINPUT: memo_[u8()] = top(); break;
        case LONG_BINPUT: memo_[le(4)] = top(); break;
        case MEMOIZE: memo_[static_cast<uint64_t>(memo_.size())] = top(); break;
        case BINGET: push(memo_get(u8())); break;
        case LONG_BINGET: push(memo_get(le(4))); break;
        case GLOBAL: {
          const std::string module = line();
          const std::string name = line();
          push(global(module, name));
          break;
        }
        case STACK_GLOBAL: {
          NodePtr name = pop();
          NodePtr module = pop();
          if (name->kind != Node::Kind::kString || module->kind != Node::Kind::kString) {
            fail("STACK_GLOBAL needs two strings");
          }
          push(global(module->string, name->string));
          break;
        }
        case REDUCE: {
          NodePtr args = pop();
          NodePtr func = pop();
          push(reduce(func, args));
          break;
        }
        case BUILD: {
          NodePtr state = pop();
          build(top(), state);
          break;
        }
        case BINPERSID: push(persistent_load(pop())); break;
        case NEWOBJ: fail("object construction (NEWOBJ) is not allowed in a weights file");
        default:
          fail("unsupported pickle opcode 0x", hex(op),
               (op >= 0x20 && op < 0x7f ? std::string(" '") + static_cast<char>(op) + "'" : std::string()));
      }
    }
  }

 private:
  template <typename... Parts>
  [[noreturn]] void fail(const Parts&... parts) const {
    throw input_error(where_, ": pickle offset ", op_pos_, ": ", parts...);
  }
  static std::string hex(uint8_t v) {
    const char* digits = "0123456789abcdef";
    return std::string{digits[v >> 4], digits[v & 15]};
  }

  const uint8_t* take(uint64_t n) {
    if (n > size_ - pos_) fail("truncated pickle (needs ", n, " more bytes, ", size_ - pos_, " left)");
    const uint8_t* b = p_ + pos_;
    pos_ += static_cast<size_t>(n);
    return b;
  }
  uint8_t u8() { return *take(1); }
  uint64_t le(int n) {
    const uint8_t* b = take(static_cast<uint64_t>(n));
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | b[i];
    return v;
  }
  std::string line() {
    const void* nl = std::memchr(p_ + pos_, '\n', size_ - pos_);
    if (nl == nullptr) fail("truncated GLOBAL name");
    const size_t len = static_cast<const uint8_t*>(nl) - (p_ + pos_);
    std::string s(reinterpret_cast<const char*>(p_ + pos_), len);
    pos_ += len + 1;
    return s;
  }

  NodePtr container(Node::Kind kind) {
    NodePtr n = make(kind);
    containers_.push_back(n);
    return n;
  }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(NodePtr n) { stack_.push_back(std::move(n)); }
  NodePtr pop() {
    if (stack_.size() <= floor()) fail("stack underflow");
    NodePtr n = std::move(stack_.back());
    stack_.pop_back();
    return n;
  }
  const NodePtr& top() {
    if (stack_.size() <= floor()) fail("stack underflow");
    return stack_.back();
  }
  std::vector<NodePtr> pop_mark() {
    if (marks_.empty()) fail("no MARK on the stack");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<NodePtr> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  void push_bool(bool b) {
    auto n = make(Node::Kind::kBool);
    n->boolean = b;
    push(n);
  }
  void push_int(int64_t v) {
    auto n = make(Node::Kind::kInt);
    n->integer = v;
    push(n);
  }
  void push_long(uint64_t nbytes) {
    if (nbytes > 8) fail("integer of ", nbytes, " bytes does not fit 64 bits");
    const uint8_t* b = take(nbytes);
    uint64_t v = 0;
    for (uint64_t i = nbytes; i-- > 0;) v = (v << 8) | b[i];
    if (nbytes > 0 && nbytes < 8 && (b[nbytes - 1] & 0x80)) v |= ~uint64_t{0} << (8 * nbytes);  // sign-extend
    push_int(static_cast<int64_t>(v));
  }
  void push_string(uint64_t n, bool utf8) {
    const uint8_t* b = take(n);
    auto node = make(Node::Kind::kString);
    node->string.assign(reinterpret_cast<const char*>(b), static_cast<size_t>(n));
    if (utf8 && !is_valid_utf8(node->string)) fail("string is not valid UTF-8");
    push(node);
  }
  NodePtr memo_get(uint64_t key) {
    const auto it = memo_.find(key);
    if (it == memo_.end()) fail("memo key ", key, " was never stored");
    return it->second;
  }
  void set_item(const NodePtr& dict, const NodePtr& key, const NodePtr& value) {
    if (dict->kind != Node::Kind::kDict) fail("SETITEM on a ", kind_name(dict->kind), ", not a dict");
    if (key->kind != Node::Kind::kString && key->kind != Node::Kind::kInt) {
      fail("dict key of type ", kind_name(key->kind), " (only str and int keys are supported)");
    }
    for (auto& kv : dict->entries) {  // Python semantics: a repeated key replaces the value in place
      if (kv.first->kind == key->kind && kv.first->string == key->string && kv.first->integer == key->integer) {
        kv.second = value;
        return;
      }
    }
    dict->entries.emplace_back(key, value);
  }
  NodePtr list_target() {
    const NodePtr& list = top();
    if (list->kind != Node::Kind::kList) fail("APPEND to a ", kind_name(list->kind), ", not a list");
    return list;
  }

  NodePtr global(const std::string& module, const std::string& name) {
    Callable c;
    if (!lookup_global(module, name, &c)) {
      const std::string full = module + "." + name;
      if (module == "__main__" || module.rfind("torch.nn.modules", 0) == 0 ||
          module.rfind("transformers.models", 0) == 0) {
        fail("refused global '", full,
             "': this is a pickled model object, not a state dict; only tensors and plain containers are read. "
             "Save the weights with torch.save(model.state_dict(), path) instead");
      }
      fail("refused global '", full,
           "': only tensors, storages and plain containers may appear in a weights file "
           "(if it holds a whole model object, save model.state_dict() instead)");
    }
    auto n = make(Node::Kind::kGlobal);
    n->string = module + "." + name;
    n->callable = c;
    if (c == Callable::kStorageClass) n->tensor.storage_type = name;
    return n;
  }

  static bool is_int_tuple(const NodePtr& n) {
    if (n->kind != Node::Kind::kTuple) return false;
    for (const auto& x : n->items) {
      if (x->kind != Node::Kind::kInt) return false;
    }
    return true;
  }

  NodePtr reduce(const NodePtr& func, const NodePtr& args) {
    if (func->kind != Node::Kind::kGlobal) fail("REDUCE on a ", kind_name(func->kind), ", not a callable");
    if (args->kind != Node::Kind::kTuple) fail("REDUCE arguments are a ", kind_name(args->kind), ", not a tuple");
    const auto& a = args->items;
    switch (func->callable) {
      case Callable::kOrderedDict:
        if (!a.empty()) fail("collections.OrderedDict with arguments is not supported");
        return container(Node::Kind::kDict);
      case Callable::kRebuildTensorV2: {
        if (a.size() != 6 && a.size() != 7) fail("_rebuild_tensor_v2 takes 6 or 7 arguments, got ", a.size());
        if (a[0]->kind != Node::Kind::kStorage) fail("_rebuild_tensor_v2: first argument is not a storage");
        if (a[1]->kind != Node::Kind::kInt || !is_int_tuple(a[2]) || !is_int_tuple(a[3]) ||
            a[4]->kind != Node::Kind::kBool) {
          fail("_rebuild_tensor_v2: expected (storage, int, tuple of int, tuple of int, bool, ...)");
        }
        if (a[2]->items.size() != a[3]->items.size()) {
          fail("_rebuild_tensor_v2: size has ", a[2]->items.size(), " dims but stride has ", a[3]->items.size());
        }
        auto t = make(Node::Kind::kTensor);
        t->tensor = a[0]->tensor;
        t->tensor.storage_offset = a[1]->integer;
        for (const auto& x : a[2]->items) t->tensor.size.push_back(x->integer);
        for (const auto& x : a[3]->items) t->tensor.stride.push_back(x->integer);
        t->tensor.requires_grad = a[4]->boolean;
        return t;
      }
      case Callable::kRebuildParameter:
      case Callable::kRebuildParameterWithState: {
        const size_t want = func->callable == Callable::kRebuildParameter ? 3 : 4;
        if (a.size() != want || a[0]->kind != Node::Kind::kTensor) {
          fail(func->string, ": expected (tensor, requires_grad, hooks", want == 4 ? ", state)" : ")");
        }
        auto t = make(Node::Kind::kTensor);
        t->tensor = a[0]->tensor;
        if (a[1]->kind == Node::Kind::kBool) t->tensor.requires_grad = a[1]->boolean;
        return t;
      }
      case Callable::kRebuildFromTypeV2: {
        // (func, new_type, args, state): a tensor whose Python class is recorded.
        if (a.size() != 4 || a[0]->kind != Node::Kind::kGlobal || a[1]->kind != Node::Kind::kGlobal) {
          fail("_rebuild_from_type_v2: expected (func, type, args, state)");
        }
        if (a[1]->callable != Callable::kTensorClass && a[1]->callable != Callable::kParameterClass) {
          fail("_rebuild_from_type_v2: unsupported tensor type ", a[1]->string);
        }
        NodePtr t = reduce(a[0], a[2]);
        if (t->kind != Node::Kind::kTensor) fail("_rebuild_from_type_v2 did not produce a tensor");
        return t;
      }
      case Callable::kTensorClass:
      case Callable::kParameterClass:
      case Callable::kStorageClass:
        fail("calling ", func->string, " is not supported");
    }
    fail("unreachable callable");
  }

  void build(const NodePtr& inst, const NodePtr& state) {
    if (inst->kind == Node::Kind::kDict) return;  // OrderedDict attributes (e.g. _metadata): not weights
    if (inst->kind == Node::Kind::kTensor) {
      const bool empty = state->kind == Node::Kind::kNone ||
                         (state->kind == Node::Kind::kDict && state->entries.empty()) ||
                         (state->kind == Node::Kind::kTuple && state->items.empty());
      if (empty) return;
      fail("BUILD with state on a tensor is not supported (legacy tensor pickling?)");
    }
    fail("BUILD on a ", kind_name(inst->kind), " is not supported");
  }

  NodePtr persistent_load(const NodePtr& pid) {
    if (pid->kind != Node::Kind::kTuple || pid->items.size() != 5 || pid->items[0]->kind != Node::Kind::kString ||
        pid->items[0]->string != "storage") {
      fail("persistent id is not ('storage', type, key, location, numel)");
    }
    const auto& a = pid->items;
    if (a[1]->kind != Node::Kind::kGlobal || a[1]->callable != Callable::kStorageClass) {
      fail("persistent id: storage type is not a supported storage class");
    }
    if (a[2]->kind != Node::Kind::kString || a[3]->kind != Node::Kind::kString || a[4]->kind != Node::Kind::kInt) {
      fail("persistent id: expected (str key, str location, int numel)");
    }
    if (a[4]->integer < 0) fail("persistent id: negative storage size ", a[4]->integer);
    auto s = make(Node::Kind::kStorage);
    s->tensor.storage_type = a[1]->tensor.storage_type;
    s->tensor.storage_key = a[2]->string;
    s->tensor.location = a[3]->string;
    s->tensor.storage_numel = a[4]->integer;
    return s;
  }

  const uint8_t* p_;
  size_t size_;
  size_t pos_ = 0, op_pos_ = 0;
  std::string where_;
  std::vector<NodePtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, NodePtr> memo_;
  std::vector<std::weak_ptr<Node>> containers_;
};

PickleValue to_value(const Node& n, int depth, const std::string& where) {
  if (depth > kMaxDepth) throw input_error(where, ": pickle nests deeper than ", kMaxDepth, " levels (or is cyclic)");
  PickleValue v;
  switch (n.kind) {
    case Node::Kind::kNone: v.kind = PickleValue::Kind::kNone; break;
    case Node::Kind::kBool: v.kind = PickleValue::Kind::kBool; v.boolean = n.boolean; break;
    case Node::Kind::kInt: v.kind = PickleValue::Kind::kInt; v.integer = n.integer; break;
    case Node::Kind::kFloat: v.kind = PickleValue::Kind::kFloat; v.real = n.real; break;
    case Node::Kind::kString: v.kind = PickleValue::Kind::kString; v.string = n.string; break;
    case Node::Kind::kTensor: v.kind = PickleValue::Kind::kTensor; v.tensor = n.tensor; break;
    case Node::Kind::kList:
    case Node::Kind::kTuple:
      v.kind = n.kind == Node::Kind::kList ? PickleValue::Kind::kList : PickleValue::Kind::kTuple;
      v.items.reserve(n.items.size());
      for (const auto& x : n.items) v.items.push_back(to_value(*x, depth + 1, where));
      break;
    case Node::Kind::kDict:
      v.kind = PickleValue::Kind::kDict;
      v.entries.reserve(n.entries.size());
      for (const auto& kv : n.entries) {
        v.entries.emplace_back(to_value(*kv.first, depth + 1, where), to_value(*kv.second, depth + 1, where));
      }
      break;
    case Node::Kind::kGlobal:
      throw input_error(where, ": the data holds a bare reference to ", n.string, ", which is not a value");
    case Node::Kind::kStorage:
      throw input_error(where, ": the data holds a bare storage (key '", n.tensor.storage_key,
                        "'); only tensors are supported");
  }
  return v;
}

// ---------------------------------------------------------------- writer

// Strings, globals and storage ids are memoized (written once, then fetched
// with BINGET), as Python's pickler does for repeated objects: in a .stage1.pt
// every tensor repeats its keys, '_rebuild_tensor_v2', 'OrderedDict' and the
// persistent id of the storage it views, which without the memo made up about
// half of data.pkl (measured: 17,043 of 104,532 bytes before).
class Pickler {
 public:
  std::string out;

  void dump(const PickleValue& v, int depth) {
    if (depth > kMaxDepth) throw runtime_error("pickle: value nests deeper than ", kMaxDepth, " levels");
    switch (v.kind) {
      case PickleValue::Kind::kNone: op(NONE); break;
      case PickleValue::Kind::kBool: op(v.boolean ? NEWTRUE : NEWFALSE); break;
      case PickleValue::Kind::kInt: integer(v.integer); break;
      case PickleValue::Kind::kFloat: {
        op(BINFLOAT);
        uint64_t bits;
        std::memcpy(&bits, &v.real, 8);
        for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
        break;
      }
      case PickleValue::Kind::kString: string(v.string); break;
      case PickleValue::Kind::kList:
        op(EMPTY_LIST);
        for (size_t i = 0; i < v.items.size(); i += kBatch) {
          op(MARK);
          for (size_t j = i; j < v.items.size() && j < i + kBatch; ++j) dump(v.items[j], depth + 1);
          op(APPENDS);
        }
        break;
      case PickleValue::Kind::kTuple:
        if (v.items.empty()) {
          op(EMPTY_TUPLE);
        } else if (v.items.size() <= 3) {
          for (const auto& x : v.items) dump(x, depth + 1);
          op(static_cast<uint8_t>(TUPLE1 + v.items.size() - 1));
        } else {
          op(MARK);
          for (const auto& x : v.items) dump(x, depth + 1);
          op(TUPLE);
        }
        break;
      case PickleValue::Kind::kDict:
        op(EMPTY_DICT);
        for (size_t i = 0; i < v.entries.size(); i += kBatch) {
          op(MARK);
          for (size_t j = i; j < v.entries.size() && j < i + kBatch; ++j) {
            const auto& key = v.entries[j].first;
            if (key.kind != PickleValue::Kind::kString && key.kind != PickleValue::Kind::kInt) {
              throw runtime_error("pickle: dict keys must be str or int");
            }
            dump(key, depth + 1);
            dump(v.entries[j].second, depth + 1);
          }
          op(SETITEMS);
        }
        break;
      case PickleValue::Kind::kTensor: tensor(v.tensor); break;
    }
  }

 private:
  static constexpr size_t kBatch = 1000;  // as Python batches SETITEMS/APPENDS

  std::unordered_map<std::string, uint32_t> memo_;  // what was written -> its memo index

  void op(uint8_t c) { out.push_back(static_cast<char>(c)); }
  // If `key` was memoized, fetches it and returns true; else the caller writes
  // the object and then calls put(key).
  bool get(const std::string& key) {
    const auto it = memo_.find(key);
    if (it == memo_.end()) return false;
    if (it->second < 256) {
      op(BINGET);
      le(it->second, 1);
    } else {
      op(LONG_BINGET);
      le(it->second, 4);
    }
    return true;
  }
  void put(const std::string& key) {
    const uint32_t index = static_cast<uint32_t>(memo_.size());
    memo_.emplace(key, index);
    if (index < 256) {
      op(BINPUT);
      le(index, 1);
    } else {
      op(LONG_BINPUT);
      le(index, 4);
    }
  }
  void le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  }
  void integer(int64_t v) {
    if (v >= 0 && v < 256) {
      op(BININT1);
      le(static_cast<uint64_t>(v), 1);
    } else if (v >= 0 && v < 65536) {
      op(BININT2);
      le(static_cast<uint64_t>(v), 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      op(BININT);
      le(static_cast<uint64_t>(static_cast<uint32_t>(static_cast<int32_t>(v))), 4);
    } else {
      // Minimal two's complement, as Python's encode_long.
      int n = 8;
      while (n > 1) {
        const int64_t shifted = v >> (8 * (n - 1) - 1);  // the top byte plus the next sign bit
        if (shifted != 0 && shifted != -1) break;
        --n;
      }
      op(LONG1);
      le(static_cast<uint64_t>(n), 1);
      le(static_cast<uint64_t>(v), n);
    }
  }
  // Memo keys start with a kind letter so a string and a global never collide.
  void string(const std::string& s) {
    if (!is_valid_utf8(s)) throw runtime_error("pickle: string is not valid UTF-8: '", s.substr(0, 40), "'");
    const std::string key = "s" + s;
    if (get(key)) return;
    // BINUNICODE even for short strings: PyTorch 1.13's weights_only loader
    // knows no SHORT_BINUNICODE (protocol 4).
    op(BINUNICODE);
    le(s.size(), 4);
    out += s;
    put(key);
  }
  void global(const char* module, const std::string& name) {
    const std::string key = std::string("g") + module + "\n" + name;
    if (get(key)) return;
    op(GLOBAL);
    out += module;
    out.push_back('\n');
    out += name;
    out.push_back('\n');
    put(key);
  }
  void tensor(const PickleTensor& t) {
    if (pickle_storage_element_size(t.storage_type) == 0) {
      throw runtime_error("pickle: unknown storage type '", t.storage_type, "'");
    }
    if (t.size.size() != t.stride.size()) throw runtime_error("pickle: tensor size and stride ranks differ");
    global("torch._utils", "_rebuild_tensor_v2");
    op(MARK);
    // The persistent id, one tuple per storage, shared by every view of it.
    const std::string location = t.location.empty() ? "cpu" : t.location;
    const std::string pid = "p" + t.storage_type + "\n" + t.storage_key + "\n" + location + "\n" + std::to_string(t.storage_numel);
    if (!get(pid)) {
      op(MARK);
      string("storage");
      global("torch", t.storage_type);
      string(t.storage_key);
      string(location);
      integer(t.storage_numel);
      op(TUPLE);
      put(pid);
    }
    op(BINPERSID);
    integer(t.storage_offset);
    PickleValue size, stride;
    size.kind = stride.kind = PickleValue::Kind::kTuple;
    for (int64_t s : t.size) size.items.push_back(int_value(s));
    for (int64_t s : t.stride) stride.items.push_back(int_value(s));
    dump(size, 0);
    dump(stride, 0);
    op(t.requires_grad ? NEWTRUE : NEWFALSE);
    global("collections", "OrderedDict");
    op(EMPTY_TUPLE);
    op(REDUCE);
    op(TUPLE);
    op(REDUCE);
  }
  static PickleValue int_value(int64_t x) {
    PickleValue v;
    v.kind = PickleValue::Kind::kInt;
    v.integer = x;
    return v;
  }
};

}  // namespace

size_t pickle_storage_element_size(const std::string& storage_type) {
  for (const StorageType& t : kStorageTypes) {
    if (storage_type == t.name) return t.element_size;
  }
  return 0;
}

PickleValue unpickle(const uint8_t* data, size_t size, const std::string& where) {
  Unpickler u(data, size, where);
  NodePtr root = u.run();
  return to_value(*root, 0, where);
}

std::string pickle_dumps(const PickleValue& root) {
  Pickler p;
  p.out.push_back(static_cast<char>(PROTO));
  p.out.push_back(2);
  p.dump(root, 0);
  p.out.push_back(static_cast<char>(STOP));
  return p.out;
}

}  // namespace seedforge
