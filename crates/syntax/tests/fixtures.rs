//! Symbols and chunks extracted from a realistic snippet of each language.
//! Update the expectations with `UPDATE_EXPECT=1 cargo test -p hearth-syntax`, then read the diff.

use std::fmt::Write;

use expect_test::{expect, Expect};
use hearth_syntax::{analyze, analyze_whole_tree, Language};

fn check(lang: Language, src: &str, expect: Expect) {
    let file = analyze(lang, src).unwrap();
    assert_eq!(
        file,
        analyze_whole_tree(lang, src).unwrap(),
        "the one-walk extraction should equal the whole-tree query on the {lang} fixture"
    );
    assert_eq!(file.error_count, 0, "the {lang} fixture should parse cleanly");
    let mut out = String::new();
    for s in &file.symbols {
        let scope = s.scope.as_deref().map(|s| format!("{s} :: ")).unwrap_or_default();
        writeln!(out, "{:<9} {scope}{} L{}-{} | {}", s.kind.as_str(), s.name, s.range.start_line + 1, s.range.end_line + 1, s.signature)
            .unwrap();
    }
    out.push_str("--- chunks\n");
    for c in &file.chunks {
        let header = c.header.as_deref().map(|h| format!(" (header: {h})")).unwrap_or_default();
        writeln!(out, "{:<8} {} L{}-{}{header}", c.kind.as_str(), c.name, c.range.start_line + 1, c.range.end_line + 1).unwrap();
    }
    expect.assert_eq(&out);
}

#[test]
fn rust() {
    check(
        Language::Rust,
        r#"use std::collections::HashMap;

/// A cache of parsed files.
pub struct Cache<K> {
    entries: HashMap<K, String>,
    limit: usize,
}

pub enum Eviction { Oldest, Largest }

pub trait Store {
    fn get(&self, key: &str) -> Option<&str>;
}

impl<K: std::hash::Hash + Eq> Cache<K> {
    pub fn new(limit: usize) -> Self {
        Cache { entries: HashMap::new(), limit }
    }

    fn evict(&mut self) {}
}

const DEFAULT_LIMIT: usize = 64;

macro_rules! cached {
    ($e:expr) => { $e };
}

mod tests {
    fn helper() {}
}
"#,
        expect![[r#"
            struct    Cache L4-7 | pub struct Cache<K> {
            field     Cache :: entries L5-5 | entries: HashMap<K, String>,
            field     Cache :: limit L6-6 | limit: usize,
            enum      Eviction L9-9 | pub enum Eviction { Oldest, Largest }
            constant  Eviction :: Oldest L9-9 | pub enum Eviction { Oldest, Largest }
            constant  Eviction :: Largest L9-9 | pub enum Eviction { Oldest, Largest }
            trait     Store L11-13 | pub trait Store {
            method    Store :: get L12-12 | fn get(&self, key: &str) -> Option<&str>;
            impl      Cache L15-21 | impl<K: std::hash::Hash + Eq> Cache<K> {
            method    Cache :: new L16-18 | pub fn new(limit: usize) -> Self {
            method    Cache :: evict L20-20 | fn evict(&mut self) {}
            constant  DEFAULT_LIMIT L23-23 | const DEFAULT_LIMIT: usize = 64;
            macro     cached L25-27 | macro_rules! cached {
            module    tests L29-31 | mod tests {
            function  tests :: helper L30-30 | fn helper() {}
            --- chunks
            block     L1-3
            class    Cache L4-7
            class    Eviction L9-9
            class    Store L11-13
            class    Cache L15-21
            block     L22-24
            function cached L25-27
            class    tests L29-31
        "#]],
    );
}

#[test]
fn python() {
    check(
        Language::Python,
        r#"import os
from dataclasses import dataclass

TIMEOUT = 30

@dataclass
class Request:
    url: str
    retries = 3

    def send(self, body):
        return fetch(self.url, body)

    @staticmethod
    def parse(text):
        return Request(text)

def fetch(url, body=None):
    def inner():
        return os.getenv("PROXY")
    return inner()
"#,
        expect![[r#"
            variable  TIMEOUT L4-4 | TIMEOUT = 30
            class     Request L7-16 | class Request:
            field     Request :: url L8-8 | url: str
            field     Request :: retries L9-9 | retries = 3
            method    Request :: send L11-12 | def send(self, body):
            method    Request :: parse L15-16 | def parse(text):
            function  fetch L18-21 | def fetch(url, body=None):
            function  fetch :: inner L19-20 | def inner():
            --- chunks
            block     L1-6
            class    Request L7-16
            function fetch L18-21
        "#]],
    );
}

#[test]
fn javascript() {
    check(
        Language::JavaScript,
        r#"import { readFile } from "fs";

export const VERSION = "1.0";

export class Loader extends Base {
  #cache = new Map();

  constructor(root) {
    super();
    this.root = root;
  }

  async load(name) {
    return readFile(`${this.root}/${name}`);
  }
}

function* ids() { yield 1; }

const resolve = (path) => path.trim();
"#,
        expect![[r#"
            variable  VERSION L3-3 | export const VERSION = "1.0";
            class     Loader L5-16 | export class Loader extends Base {
            field     Loader :: #cache L6-6 | #cache = new Map();
            method    Loader :: constructor L8-11 | constructor(root) {
            method    Loader :: load L13-15 | async load(name) {
            function  ids L18-18 | function* ids() { yield 1; }
            function  resolve L20-20 | const resolve = (path) => path.trim();
            --- chunks
            block     L1-4
            class    Loader L5-16
            function ids L18-18
            function resolve L20-20
        "#]],
    );
}

#[test]
fn typescript() {
    check(
        Language::TypeScript,
        r#"export interface User {
  id: string;
  name(): string;
}

export type UserId = string;

enum Role { Admin, Guest }

namespace Auth {
  export function check(user: User): boolean {
    return user.id.length > 0;
  }
}

export abstract class Repo<T> {
  private items: T[] = [];
  abstract find(id: string): T | undefined;
  add(item: T): void {
    this.items.push(item);
  }
}

export const toId = (u: User): UserId => u.id;
"#,
        expect![[r#"
            interface User L1-4 | export interface User {
            field     User :: id L2-2 | id: string;
            method    User :: name L3-3 | name(): string;
            type      UserId L6-6 | export type UserId = string;
            enum      Role L8-8 | enum Role { Admin, Guest }
            namespace Auth L10-14 | namespace Auth {
            function  Auth :: check L11-13 | export function check(user: User): boolean {
            class     Repo L16-22 | export abstract class Repo<T> {
            field     Repo :: items L17-17 | private items: T[] = [];
            method    Repo :: find L18-18 | abstract find(id: string): T | undefined;
            method    Repo :: add L19-21 | add(item: T): void {
            function  toId L24-24 | export const toId = (u: User): UserId => u.id;
            --- chunks
            class    User L1-4
            block     L5-7
            class    Role L8-8
            class    Auth L10-14
            class    Repo L16-22
            function toId L24-24
        "#]],
    );
}

#[test]
fn tsx() {
    check(
        Language::Tsx,
        r#"import React from "react";

interface Props { title: string }

export function Header({ title }: Props) {
  return <h1 className="title">{title}</h1>;
}

export const Footer = () => <footer>bye</footer>;
"#,
        expect![[r#"
            interface Props L3-3 | interface Props { title: string }
            field     Props :: title L3-3 | interface Props { title: string }
            function  Header L5-7 | export function Header({ title }: Props) {
            function  Footer L9-9 | export const Footer = () => <footer>bye</footer>;
            --- chunks
            block     L1-2
            class    Props L3-3
            function Header L5-7
            function Footer L9-9
        "#]],
    );
}

#[test]
fn go() {
    check(
        Language::Go,
        r#"package server

import "net/http"

const DefaultPort = 8080

var started = false

var (
	Black = 0
	White = 1
)

type Server struct {
	Addr    string
	handler http.Handler
}

type Handler interface {
	Serve(w http.ResponseWriter) error
}

type Port int

func New(addr string) *Server {
	return &Server{Addr: addr}
}

func (s *Server) Start() error {
	started = true
	return http.ListenAndServe(s.Addr, s.handler)
}
"#,
        expect![[r#"
            constant  DefaultPort L5-5 | const DefaultPort = 8080
            variable  started L7-7 | var started = false
            variable  Black L10-10 | Black = 0
            variable  White L11-11 | White = 1
            struct    Server L14-17 | type Server struct {
            field     Server :: Addr L15-15 | Addr    string
            field     Server :: handler L16-16 | handler http.Handler
            interface Handler L19-21 | type Handler interface {
            method    Handler :: Serve L20-20 | Serve(w http.ResponseWriter) error
            type      Port L23-23 | type Port int
            function  New L25-27 | func New(addr string) *Server {
            method    Server :: Start L29-32 | func (s *Server) Start() error {
            --- chunks
            block     L1-13
            class    Server L14-17
            class    Handler L19-21
            class    Port L23-23
            function New L25-27
            method   Start L29-32
        "#]],
    );
}

#[test]
fn java() {
    check(
        Language::Java,
        r#"package com.example;

import java.util.List;

public class OrderService {
    private final List<Order> orders;

    public OrderService(List<Order> orders) {
        this.orders = orders;
    }

    public int total() {
        return orders.stream().mapToInt(Order::price).sum();
    }

    enum Status { OPEN, CLOSED }

    interface Listener {
        void changed(Order order);
    }
}

record Order(String id, int price) {}
"#,
        expect![[r#"
            class     OrderService L5-21 | public class OrderService {
            field     OrderService :: orders L6-6 | private final List<Order> orders;
            method    OrderService :: OrderService L8-10 | public OrderService(List<Order> orders) {
            method    OrderService :: total L12-14 | public int total() {
            enum      OrderService :: Status L16-16 | enum Status { OPEN, CLOSED }
            constant  OrderService.Status :: OPEN L16-16 | enum Status { OPEN, CLOSED }
            constant  OrderService.Status :: CLOSED L16-16 | enum Status { OPEN, CLOSED }
            interface OrderService :: Listener L18-20 | interface Listener {
            method    OrderService.Listener :: changed L19-19 | void changed(Order order);
            class     Order L23-23 | record Order(String id, int price) {}
            --- chunks
            block     L1-4
            class    OrderService L5-21
            class    Order L23-23
        "#]],
    );
}

#[test]
fn c() {
    check(
        Language::C,
        r#"#include <stdio.h>
#define MAX_ITEMS 16
#define SQUARE(x) ((x) * (x))

typedef struct list {
    int items[MAX_ITEMS];
    int len;
} list_t;

enum color { RED, GREEN };

static int counter = 0;

int list_push(list_t *list, int value);

int list_push(list_t *list, int value) {
    if (list->len == MAX_ITEMS) return -1;
    list->items[list->len++] = value;
    return 0;
}

char *name_of(enum color c) {
    return c == RED ? "red" : "green";
}
"#,
        expect![[r#"
            macro     MAX_ITEMS L2-2 | #define MAX_ITEMS 16
            macro     SQUARE L3-3 | #define SQUARE(x) ((x) * (x))
            type      list_t L5-8 | typedef struct list {
            struct    list_t :: list L5-8 | typedef struct list {
            field     list_t.list :: items L6-6 | int items[MAX_ITEMS];
            field     list_t.list :: len L7-7 | int len;
            enum      color L10-10 | enum color { RED, GREEN };
            constant  color :: RED L10-10 | enum color { RED, GREEN };
            constant  color :: GREEN L10-10 | enum color { RED, GREEN };
            variable  counter L12-12 | static int counter = 0;
            function  list_push L14-14 | int list_push(list_t *list, int value);
            function  list_push L16-20 | int list_push(list_t *list, int value) {
            function  name_of L22-24 | char *name_of(enum color c) {
            --- chunks
            block     L1-4
            class    list L5-8
            class    color L10-10
            block     L11-15
            function list_push L16-20
            function name_of L22-24
        "#]],
    );
}

#[test]
fn cpp() {
    check(
        Language::Cpp,
        r#"#include <string>

namespace geo {

class Shape {
public:
    virtual double area() const = 0;
    std::string name;
};

struct Circle : Shape {
    double r;
    double area() const override { return 3.14 * r * r; }
};

using Meters = double;

double Shape::scaled(double k) const {
    return area() * k;
}

}  // namespace geo

template <typename T>
T max_of(T a, T b) { return a > b ? a : b; }
"#,
        expect![[r#"
            namespace geo L3-22 | namespace geo {
            class     geo :: Shape L5-9 | class Shape {
            method    geo::Shape :: area L7-7 | virtual double area() const = 0;
            field     geo::Shape :: name L8-8 | std::string name;
            struct    geo :: Circle L11-14 | struct Circle : Shape {
            field     geo::Circle :: r L12-12 | double r;
            method    geo::Circle :: area L13-13 | double area() const override { return 3.14 * r * r; }
            type      geo :: Meters L16-16 | using Meters = double;
            function  geo :: Shape::scaled L18-20 | double Shape::scaled(double k) const {
            function  max_of L25-25 | T max_of(T a, T b) { return a > b ? a : b; }
            --- chunks
            block     L1-4
            class    Shape L5-9
            class    Circle L11-14
            block     L15-17
            function Shape::scaled L18-20
            block     L21-24
            function max_of L25-25
        "#]],
    );
}

#[test]
fn c_sharp() {
    check(
        Language::CSharp,
        r#"using System;

namespace Shop.Billing
{
    public interface IInvoice { decimal Total(); }

    public class Invoice : IInvoice
    {
        private readonly decimal amount;
        public string Customer { get; set; }

        public Invoice(decimal amount) { this.amount = amount; }

        public decimal Total() => amount * 1.2m;
    }

    public enum Currency { Eur, Usd }

    public struct Money { public decimal Value; }
}
"#,
        expect![[r#"
            namespace Shop.Billing L3-20 | namespace Shop.Billing
            interface Shop.Billing :: IInvoice L5-5 | public interface IInvoice { decimal Total(); }
            method    Shop.Billing.IInvoice :: Total L5-5 | public interface IInvoice { decimal Total(); }
            class     Shop.Billing :: Invoice L7-15 | public class Invoice : IInvoice
            field     Shop.Billing.Invoice :: amount L9-9 | private readonly decimal amount;
            field     Shop.Billing.Invoice :: Customer L10-10 | public string Customer { get; set; }
            method    Shop.Billing.Invoice :: Invoice L12-12 | public Invoice(decimal amount) { this.amount = amount; }
            method    Shop.Billing.Invoice :: Total L14-14 | public decimal Total() => amount * 1.2m;
            enum      Shop.Billing :: Currency L17-17 | public enum Currency { Eur, Usd }
            constant  Shop.Billing.Currency :: Eur L17-17 | public enum Currency { Eur, Usd }
            constant  Shop.Billing.Currency :: Usd L17-17 | public enum Currency { Eur, Usd }
            struct    Shop.Billing :: Money L19-19 | public struct Money { public decimal Value; }
            field     Shop.Billing.Money :: Value L19-19 | public struct Money { public decimal Value; }
            --- chunks
            block     L1-4
            class    IInvoice L5-5
            class    Invoice L7-15
            class    Currency L17-17
            class    Money L19-19
        "#]],
    );
}

#[test]
fn ruby() {
    check(
        Language::Ruby,
        r#"require "json"

module Billing
  RATE = 0.2

  class Invoice
    def initialize(amount)
      @amount = amount
    end

    def total
      @amount * (1 + RATE)
    end

    def self.parse(text)
      new(JSON.parse(text)["amount"])
    end
  end
end
"#,
        expect![[r#"
            module    Billing L3-19 | module Billing
            constant  Billing :: RATE L4-4 | RATE = 0.2
            class     Billing :: Invoice L6-18 | class Invoice
            method    Billing.Invoice :: initialize L7-9 | def initialize(amount)
            method    Billing.Invoice :: total L11-13 | def total
            method    Billing.Invoice :: parse L15-17 | def self.parse(text)
            --- chunks
            block     L1-2
            class    Billing L3-19
        "#]],
    );
}

#[test]
fn lua() {
    check(
        Language::Lua,
        r#"local M = {}

local cache = {}

local function key(name)
  return "k:" .. name
end

function M.get(name)
  return cache[key(name)]
end

function M:set(name, value)
  cache[key(name)] = value
end

M.clear = function()
  cache = {}
end

return M
"#,
        expect![[r#"
            variable  M L1-1 | local M = {}
            variable  cache L3-3 | local cache = {}
            function  key L5-7 | local function key(name)
            method    M :: get L9-11 | function M.get(name)
            method    M :: set L13-15 | function M:set(name, value)
            method    M :: clear L17-19 | M.clear = function()
            --- chunks
            block     L1-4
            function key L5-7
            function M.get L9-11
            function M:set L13-15
            function M.clear L17-19
            block     L20-22
        "#]],
    );
}
