package web

// BrandCSS exposes the brand stylesheet to the tests of package web_test.
var BrandCSS = brandCSS
